/**
 * A model card's quality-vs-speed curve from its sorted.json results: one
 * point per exit that has both a decode speed and a quality figure. Quality is
 * ROUGE-L when measured, else exact match, else validation loss (lower is
 * better; the axis says so).
 */
import type { ModelSummary } from '../../../src-main/api/contract'

export interface CurvePoint {
  exit: number
  /** Decode tokens per second. */
  x: number
  y: number
}

export interface QualityCurve {
  /** The results key on the y axis, and its label. */
  metric: 'rouge_l' | 'exact_match' | 'val_loss'
  label: string
  points: CurvePoint[]
}

const QUALITY: readonly { metric: QualityCurve['metric']; label: string }[] = [
  { metric: 'rouge_l', label: 'ROUGE-L F1' },
  { metric: 'exact_match', label: 'Exact match' },
  { metric: 'val_loss', label: 'Validation loss (lower is better)' },
]

/** The curve, or null when fewer than two exits have both figures (a table says as much). */
export function qualityCurve(results: ModelSummary['results']): QualityCurve | null {
  const rows = Object.entries(results)
    .map(([exit, figures]) => ({ exit: Number(exit), figures }))
    .filter((r) => Number.isInteger(r.exit) && typeof r.figures.decode_tokens_per_s === 'number')
    .sort((a, b) => a.exit - b.exit)
  for (const { metric, label } of QUALITY) {
    const points = rows.flatMap((r) => (typeof r.figures[metric] === 'number' ? [{ exit: r.exit, x: r.figures.decode_tokens_per_s!, y: r.figures[metric]! }] : []))
    if (points.length >= 2) return { metric, label, points }
  }
  return null
}
