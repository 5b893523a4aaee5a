/** How the app words a precision choice: weight memory (computed) and decode speed (measured on the decode bench). */
import type { PrecisionEstimate } from '../../../src-main/api/contract'

export function formatBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(2)} GB`
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`
  return `${Math.round(bytes / 1e3)} kB`
}

/** "int8 · 9.1 MB weights · ≈2.5× fp32 decode speed (decode bench)". */
export function precisionLabel(estimate: PrecisionEstimate): string {
  const speed = estimate.precision === 'fp32' ? 'baseline speed' : `≈${estimate.measuredSpeedup}× fp32 decode speed (decode bench)`
  return `${estimate.precision} · ${formatBytes(estimate.memoryBytes)} weights · ${speed}`
}
