/**
 * Tokenized records → what training can use: cut to the model's sequence
 * length, with records that no longer hold any response token left out,
 * and the figures a user checks before spending hours on a run.
 */
import { IGNORE_INDEX } from './formats'
import type { TokenizedRecord } from './tokenize'

export interface TruncationResult {
  records: TokenizedRecord[]
  /** Records longer than seqLen, cut to it (those then dropped included). */
  truncated: number
  /** Records left without a loss target, which would add nothing but cost. */
  dropped: number
}

/**
 * Keeps the first seqLen tokens of each record (Hugging Face's right
 * truncation: the prompt survives, the end of a long response does not) and
 * drops every record left with no loss target. A label at position 0 is never
 * a target, since the loss shifts labels by one, so "no target" means no
 * label other than IGNORE_INDEX at positions 1 and later.
 */
export function truncateRecords(records: readonly TokenizedRecord[], seqLen: number): TruncationResult {
  if (!Number.isInteger(seqLen) || seqLen < 2) throw new RangeError(`seqLen must be a whole number ≥ 2, got ${seqLen}`)
  const kept: TokenizedRecord[] = []
  let truncated = 0
  let dropped = 0
  for (const record of records) {
    let { inputIds, labels } = record
    if (inputIds.length > seqLen) {
      truncated++
      inputIds = inputIds.slice(0, seqLen)
      labels = labels.slice(0, seqLen)
    }
    if (!hasLossTarget(labels)) {
      dropped++
      continue
    }
    kept.push(inputIds === record.inputIds ? record : { ...record, inputIds, labels })
  }
  return { records: kept, truncated, dropped }
}

/** Whether some position after the first carries a label (see {@link truncateRecords}). */
export function hasLossTarget(labels: readonly number[]): boolean {
  for (let t = 1; t < labels.length; t++) if (labels[t] !== IGNORE_INDEX) return true
  return false
}

/** Figures for a dataset preview. */
export interface DatasetStats {
  /** Records ready for training. */
  records: number
  /** Their tokens, after truncation. */
  tokens: number
  /** Their tokens the loss is taken on (label ≠ -100). */
  responseTokens: number
  /** The longest record, in tokens, after truncation. */
  longest: number
  /** Records cut to the sequence length. */
  truncated: number
  /** Records left out for having no response token (after truncation). */
  dropped: number
  /** Malformed records left out under onError 'skip'. */
  skipped: number
}

export function datasetStats(
  records: readonly TokenizedRecord[],
  counts: { truncated: number; dropped: number; skipped: number },
): DatasetStats {
  let tokens = 0
  let responseTokens = 0
  let longest = 0
  for (const { inputIds, labels } of records) {
    tokens += inputIds.length
    longest = Math.max(longest, inputIds.length)
    for (const label of labels) if (label !== IGNORE_INDEX) responseTokens++
  }
  return { records: records.length, tokens, responseTokens, longest, ...counts }
}
