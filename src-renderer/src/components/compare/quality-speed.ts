/**
 * The quality-vs-speed plot's series, from one results matrix: per opponent,
 * one line through the exits of A in each weight precision, and Exact and
 * Auto as points of their own (Exact at the full depth's place in quality,
 * Auto at its mean exit, both at their measured speed). Precision and mode
 * are drawn as marker shapes (named in the legend), opponents as colours.
 */
import type { ResultMatrix, WeightPrecision } from '../../../../src-main/api/contract'
import { contenderLabel, depthLabel, precisionLabel } from './contender'

export type PointShape = 'circle' | 'triangle' | 'rectRot' | 'star' | 'crossRot'

/** One marker shape per precision for exits, and one each for Exact and Auto. */
export const SHAPES: Record<WeightPrecision | 'exact' | 'auto', PointShape> = {
  fp32: 'circle',
  int8: 'triangle',
  int4: 'rectRot',
  exact: 'star',
  auto: 'crossRot',
}

export interface QualitySpeedPoint {
  x: number
  y: number
  /** `@4 int4`, `@exact`, `@auto:0.5 (mean exit 2.4)`: which contender of A this is. */
  label: string
}

export interface QualitySpeedSeries {
  label: string
  /** Which opponent (column) the series is against: its colour. */
  opponent: number
  shape: PointShape
  /** Exits of one precision are joined; a mode's point stands alone. */
  line: boolean
  points: QualitySpeedPoint[]
}

/** Series in legend order: per opponent, fp32, int8 and int4 exits, then Exact, then Auto; empty series are left out. */
export function qualitySpeedSeries(matrix: ResultMatrix): QualitySpeedSeries[] {
  const series: QualitySpeedSeries[] = []
  matrix.opponents.forEach((opponent, column) => {
    const versus = `vs ${contenderLabel(opponent)}`
    const groups = new Map<string, QualitySpeedSeries>()
    for (const row of matrix.rows) {
      const cell = row.cells[column]
      if (!cell || row.tokensPerSecond === null) continue
      const kind = row.mode?.kind ?? row.precision
      const key = row.mode ? `${kind}${precisionLabel(row)}` : `${row.precision}${precisionLabel(row)}`
      let group = groups.get(key)
      if (!group) {
        const what = row.mode?.kind === 'exact' ? `Exact${precisionLabel(row)}` : row.mode?.kind === 'auto' ? `Auto${precisionLabel(row)}` : `exits ${row.precision}${row.blockSize !== undefined ? ` (block ${row.blockSize})` : ''}`
        group = { label: `${what} ${versus}`, opponent: column, shape: SHAPES[kind], line: row.mode === null, points: [] }
        groups.set(key, group)
      }
      const meanExit = row.mode?.kind === 'auto' && typeof row.meanExit === 'number' ? ` (mean exit ${row.meanExit.toFixed(1)})` : ''
      group.points.push({ x: row.tokensPerSecond, y: cell.score, label: `${depthLabel(row)}${precisionLabel(row)}${meanExit}` })
    }
    const order = (g: QualitySpeedSeries) => ['circle', 'triangle', 'rectRot', 'star', 'crossRot'].indexOf(g.shape)
    series.push(...[...groups.values()].sort((x, y) => order(x) - order(y)))
  })
  return series
}
