/** A tokenized record as text, its response spans marked, for the dataset preview to highlight. */
import type { TextTokenizer } from '../tokenizer/tokenizer'
import { IGNORE_INDEX } from './formats'
import type { TokenizedRecord } from './tokenize'

export interface PreviewSegment {
  text: string
  /**
   * Whether the loss is taken on these tokens: a label other than
   * IGNORE_INDEX at a position after the first (the loss shifts labels by
   * one, so the first token is never predicted, whatever its label).
   */
  response: boolean
  /** How many tokens the segment holds. */
  tokens: number
}

export interface RecordPreview {
  /** The whole record as text: the segments' text joined. */
  text: string
  /** Consecutive runs of prompt and response tokens, in order. */
  segments: PreviewSegment[]
}

/**
 * Decodes each run of prompt or response tokens separately (special tokens
 * shown), so the highlighting follows token boundaries exactly. Without a
 * tokenizer (a pre-tokenized dataset), the runs are shown as ids.
 */
export function previewRecord(record: TokenizedRecord, tokenizer?: TextTokenizer): RecordPreview {
  const segments: PreviewSegment[] = []
  const { inputIds, labels } = record
  const trained = (t: number) => t > 0 && labels[t] !== IGNORE_INDEX
  let start = 0
  for (let t = 1; t <= inputIds.length; t++) {
    const response = trained(start)
    if (t < inputIds.length && trained(t) === response) continue
    const ids = inputIds.slice(start, t)
    const text = tokenizer === undefined ? `[${ids.join(' ')}]` : tokenizer.decode(ids)
    segments.push({ text, response, tokens: ids.length })
    start = t
  }
  return { text: segments.map((s) => s.text).join(''), segments }
}
