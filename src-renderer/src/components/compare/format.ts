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
