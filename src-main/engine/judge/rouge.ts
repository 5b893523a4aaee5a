/**
 * ROUGE-L (Lin, 2004) as Google's rouge-score computes it without stemming:
 * lowercase, tokens are runs of letters and digits, F1 of the longest common
 * subsequence. Used by the reference judge and the bundled model's results.
 */

export function rougeTokens(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []
}

function lcsLength(a: readonly string[], b: readonly string[]): number {
  let previous = new Array<number>(b.length + 1).fill(0)
  for (const x of a) {
    const current = new Array<number>(b.length + 1).fill(0)
    for (let j = 1; j <= b.length; j++) current[j] = x === b[j - 1] ? previous[j - 1]! + 1 : Math.max(previous[j]!, current[j - 1]!)
    previous = current
  }
  return previous[b.length]!
}

export interface RougeScore {
  precision: number
  recall: number
  f1: number
}

/** ROUGE-L of `candidate` against `reference`; all zeros when either has no tokens. */
export function rougeL(candidate: string, reference: string): RougeScore {
  const c = rougeTokens(candidate)
  const r = rougeTokens(reference)
  const lcs = c.length && r.length ? lcsLength(c, r) : 0
  if (lcs === 0) return { precision: 0, recall: 0, f1: 0 }
  const precision = lcs / c.length
  const recall = lcs / r.length
  return { precision, recall, f1: (2 * precision * recall) / (precision + recall) }
}

/** Exact match after the same normalisation (case, punctuation and spacing ignored). */
export function exactMatch(candidate: string, reference: string): boolean {
  return rougeTokens(candidate).join(' ') === rougeTokens(reference).join(' ')
}
