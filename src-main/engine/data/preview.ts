/** A tokenized record as text, its response spans marked, for the dataset preview to highlight. */
import type { TextTokenizer } from '../tokenizer/tokenizer'
import { IGNORE_INDEX } from './formats'
import type { TokenizedRecord } from './tokenize'

export interface PreviewSegment {
  text: string
  /** Whether the loss is taken on these tokens. */
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
  let start = 0
  for (let t = 1; t <= inputIds.length; t++) {
    const response = labels[start] !== IGNORE_INDEX
    if (t < inputIds.length && (labels[t] !== IGNORE_INDEX) === response) continue
    const ids = inputIds.slice(start, t)
    const text = tokenizer === undefined ? `[${ids.join(' ')}]` : tokenizer.decode(ids)
    segments.push({ text, response, tokens: ids.length })
    start = t
  }
  return { text: segments.map((s) => s.text).join(''), segments }
}
