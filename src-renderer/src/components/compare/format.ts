/** How the compare and batch pages write numbers. */

export function formatSpeed(tokensPerSecond: number | null | undefined): string {
  if (tokensPerSecond === null || tokensPerSecond === undefined || !Number.isFinite(tokensPerSecond)) return '—'
  return `${tokensPerSecond >= 100 ? tokensPerSecond.toFixed(0) : tokensPerSecond.toFixed(1)} tokens/s`
}

/** Wins, losses and ties can be halves (a disagreement between the two orders). */
export function formatCount(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(1)
}

export function formatScore(score: number): string {
  return `${score > 0 ? '+' : ''}${score.toFixed(3)}`
}

export function formatEta(seconds: number | null): string {
  if (seconds === null) return 'estimating time left…'
  if (seconds < 1) return 'less than a second left'
  if (seconds < 60) return `about ${Math.round(seconds)} s left`
  const minutes = Math.round(seconds / 60)
  if (minutes < 60) return `about ${minutes} min left`
  return `about ${Math.floor(minutes / 60)} h ${minutes % 60} min left`
}

/**
 * What a mode measured, in words: `Exact · acceptance 81%`, `Auto τ 0.5 · mean exit 2.4`;
 * empty for a fixed exit. A figure that was not measured reads "n/a".
 */
export function formatModeFigures(c: {
  mode: { kind: 'exact' } | { kind: 'auto'; tau: number } | null
  acceptanceRate?: number | null | undefined
  meanExit?: number | null | undefined
}): string {
  if (c.mode?.kind === 'exact') return `Exact · acceptance ${typeof c.acceptanceRate === 'number' ? `${Math.round(c.acceptanceRate * 100)}%` : 'n/a'}`
  if (c.mode?.kind === 'auto') return `Auto τ ${c.mode.tau} · mean exit ${typeof c.meanExit === 'number' ? c.meanExit.toFixed(1) : 'n/a'}`
  return ''
}

/**
 * How a side of a finished evaluation ran, in a sentence: `A: int4 weights,
 * Exact · acceptance 66%.`; with the reason when its weights fell back to fp32.
 */
export function formatSide(
  name: string,
  side: {
    precision: string
    weightsFallbackReason?: string | undefined
    mode: 'exit' | 'exact' | 'auto'
    tau?: number | undefined
    acceptanceRate?: number | null | undefined
    meanExit?: number | null | undefined
  },
): string {
  const mode = side.mode === 'exact' ? { kind: 'exact' as const } : side.mode === 'auto' ? { kind: 'auto' as const, tau: side.tau ?? 0 } : null
  const figures = formatModeFigures({ mode, acceptanceRate: side.acceptanceRate, meanExit: side.meanExit })
  const fallback = side.weightsFallbackReason ? ` (${side.weightsFallbackReason})` : ''
  return `${name}: ${side.precision} weights${fallback}${figures ? `, ${figures}` : ''}.`
}
