/**
 * A DyLoRA run's validation loss as a heat map: one row per rank (ascending),
 * one column per exit (ascending), each cell's loss as text and in its title,
 * and a colour from the lowest loss (strongest) to the highest (faintest).
 * The figures are the run's last validation (sorted.json's results_by_rank).
 */
import { formatLoss } from './format'

export interface HeatCell {
  rank: number
  exit: number
  /** null: not measured at this rank and exit. */
  loss: number | null
  /** The loss as the cell shows it. */
  text: string
  /** What a pointer or a screen reader gets for the cell. */
  title: string
  /** 1 at the lowest loss, 0 at the highest; null for a cell without a loss. */
  strength: number | null
  /** The cell's background: the accent mixed into the surface by strength (none without a loss). */
  background: string | undefined
}

export interface RankHeatMap {
  exits: number[]
  rows: { rank: number; cells: HeatCell[] }[]
  lowest: HeatCell
  highest: HeatCell
}

/** The accent's share of a cell's background at the highest and the lowest loss (text stays readable on both). */
const FAINTEST = 8
const STRONGEST = 60

const byNumber = (keys: Iterable<string>) => [...keys].map(Number).sort((x, y) => x - y)

/** The heat map of a table keyed rank → exit → loss; null when it holds no finite loss. */
export function rankHeatMap(resultsByRank: Readonly<Record<string, Readonly<Record<string, number>>>> | undefined): RankHeatMap | null {
  if (!resultsByRank) return null
  const ranks = byNumber(Object.keys(resultsByRank))
  const exits = byNumber(new Set(Object.values(resultsByRank).flatMap((byExit) => Object.keys(byExit))))
  const losses = Object.values(resultsByRank)
    .flatMap((byExit) => Object.values(byExit))
    .filter((loss) => Number.isFinite(loss))
  if (losses.length === 0) return null
  const min = Math.min(...losses)
  const max = Math.max(...losses)
  const rows = ranks.map((rank) => ({
    rank,
    cells: exits.map((exit): HeatCell => {
      const value = resultsByRank[String(rank)]?.[String(exit)]
      const loss = value !== undefined && Number.isFinite(value) ? value : null
      // All losses equal: every cell is as good as the best.
      const strength = loss === null ? null : max === min ? 1 : (max - loss) / (max - min)
      return {
        rank,
        exit,
        loss,
        text: formatLoss(loss),
        title: loss === null ? `rank ${rank}, exit ${exit}: not measured` : `rank ${rank}, exit ${exit}: validation loss ${formatLoss(loss)}`,
        strength,
        background: strength === null ? undefined : `color-mix(in srgb, var(--color-accent) ${Math.round(FAINTEST + (STRONGEST - FAINTEST) * strength)}%, var(--color-surface))`,
      }
    }),
  }))
  const measured = rows.flatMap((row) => row.cells).filter((cell) => cell.loss !== null)
  // Ties go to the smallest rank and exit (the cheaper adapter and the shallower exit).
  const lowest = measured.find((cell) => cell.loss === min)!
  const highest = measured.find((cell) => cell.loss === max)!
  return { exits, rows, lowest, highest }
}
