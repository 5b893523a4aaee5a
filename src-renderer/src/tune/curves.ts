/**
 * Loss curves from run metrics, one series per (split, exit), kept in step
 * order as metrics arrive. A resumed run recomputes the steps after its
 * checkpoint: a point for a step the series already has replaces it and
 * everything after it, so the curve never shows a step twice or out of order.
 */
import type { RunDetails } from '../../../src-main/api/contract'

export interface CurvePoint {
  x: number
  y: number
}

export interface Curve {
  key: string
  split: 'train' | 'validation'
  exit: number
  points: CurvePoint[]
}

type Metric = Pick<RunDetails['metrics'][number], 'step' | 'exit' | 'split' | 'loss'>

export interface CurveSet {
  /** Curves in a stable order: train before validation, shallow exits first. */
  readonly curves: Curve[]
  /** Adds one metric; returns the curve it changed (a new one is created), or undefined when it draws nothing. */
  add(metric: Metric): Curve | undefined
  clear(): void
}

export function createCurveSet(): CurveSet {
  const byKey = new Map<string, Curve>()
  return {
    get curves() {
      return [...byKey.values()].sort((a, b) => (a.split === b.split ? a.exit - b.exit : a.split === 'train' ? -1 : 1))
    },
    add(metric) {
      if (metric.exit === null || metric.loss === null || !Number.isFinite(metric.loss)) return undefined
      const key = `${metric.split}:${metric.exit}`
      let curve = byKey.get(key)
      if (!curve) byKey.set(key, (curve = { key, split: metric.split, exit: metric.exit, points: [] }))
      const { points } = curve
      // Points are in step order: drop the replaced step and any after it.
      let keep = points.length
      while (keep > 0 && points[keep - 1]!.x >= metric.step) keep--
      points.length = keep
      points.push({ x: metric.step, y: metric.loss })
      return curve
    },
    clear() {
      byKey.clear()
    },
  }
}
