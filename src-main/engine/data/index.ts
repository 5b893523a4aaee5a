/**
 * Datasets for training: file → validated records → token ids with a
 * response-only loss mask → truncated records → a train/validation split →
 * resumable batches.
 *
 * ```ts
 * const data = loadDataset('alpaca.json', { tokenizer, formatter, seqLen: 512, onError: 'stop' })
 * data.stats          // { records, tokens, responseTokens, longest, truncated, dropped, skipped }
 * data.previewRecord(0).segments  // [{ text, response: false }, { text, response: true }, …]
 * const { train, validation } = splitDataset(data.records, { valFraction: 0.05, seed })
 * const plan = makeBatches(train, { batchSize: 8, seqLen: 512, mode: 'padding' })
 * for (const batch of plan.batches(epochSeed(seed, epoch), batchIndex)) …  // resume at {epoch, batchIndex}
 * ```
 *
 * loadDataset(file, options): LoadedDataset
 *   Reads a JSON array or JSONL file of Alpaca ({instruction, input?,
 *   output}), ShareGPT ({conversations: [{from: human|gpt|system, value}]}),
 *   OpenAI messages ({messages: [{role: system|user|assistant, content}]})
 *   or pre-tokenized ({input_ids, labels?}) records. The format and layout
 *   are detected from the content unless given. Every malformed record is
 *   reported as `file:line` (JSONL) or `file[index]` (JSON) with its field;
 *   onError 'stop' (the default) throws one DatasetError listing them all
 *   (the first 50, and a count of the rest), 'skip' leaves them out and
 *   returns them in `skipped`. A record the chat template cannot render is
 *   malformed too. No valid record left is a DatasetError either way.
 *   Text records are formatted through `formatter` (the model's chat
 *   template) or, without one, the Alpaca prompt, and labelled on response
 *   tokens only (tokenize.ts); then cut to `seqLen`, dropping records left
 *   without a response token (prepare.ts).
 *
 * Also: readDataset (validation only, no tokenizer), tokenizeRecord,
 * truncateRecords, datasetStats, previewRecord, splitDataset, makeBatches /
 * packRecords (batches.ts: padding, packing, the wrap-around batch rule),
 * mulberry32 / permutation / epochSeed (random.ts).
 *
 * Conventions: labels are aligned with input_ids (Hugging Face: the loss
 * shifts them) and IGNORE_INDEX (-100) where no loss is taken; padding is on
 * the right only.
 */
import type { ChatFormatter } from '../tokenizer/chat-template'
import type { TextTokenizer } from '../tokenizer/tokenizer'
import { describeEncoding } from './encoding'
import { DatasetError, messageOf } from './errors'
import type { SkippedRecord } from './errors'
import { formatName } from './formats'
import type { FileLayout, RecordFormat } from './formats'
import { datasetStats, truncateRecords } from './prepare'
import type { DatasetStats } from './prepare'
import { previewRecord } from './preview'
import type { RecordPreview } from './preview'
import { applyPolicy, noRecords, parseDatasetFile } from './read'
import type { ReadOptions } from './read'
import { tokenizeRecord } from './tokenize'
import type { TokenizedRecord } from './tokenize'

export { DatasetError, MAX_LISTED_PROBLEMS, formatLocation, formatProblem } from './errors'
export type { RecordLocation, RecordProblem, SkippedRecord } from './errors'
export { IGNORE_INDEX, RECORD_FORMATS, detectRecordFormat, formatName, validateRecord } from './formats'
export type { ConversationRecord, DatasetRecord, FileLayout, InstructionRecord, RecordFormat, TokenRecord } from './formats'
export { MAX_RECORD_CHARS, parseDatasetFile, parseDatasetText, readDataset } from './read'
export { describeEncoding } from './encoding'
export type { EncodingReport } from './encoding'
export type { ErrorPolicy, ReadOptions, ReadResult } from './read'
export { RecordFormatError, tokenizeRecord } from './tokenize'
export type { PromptFormat, TokenizedRecord } from './tokenize'
export { datasetStats, hasLossTarget, truncateRecords } from './prepare'
export type { DatasetStats, TruncationResult } from './prepare'
export { previewRecord } from './preview'
export type { PreviewSegment, RecordPreview } from './preview'
export { splitDataset } from './split'
export type { Split, SplitOptions } from './split'
export { makeBatches, packRecords } from './batches'
export type { Batch, BatchMode, BatchOptions, BatchPlan } from './batches'
export { epochSeed, mulberry32, permutation } from './random'

export interface LoadOptions extends ReadOptions {
  /** The model's tokenizer: needed for text records, and its vocabulary bounds pre-tokenized ids. */
  tokenizer?: TextTokenizer
  /** The model's chat template (chatFormatterFor); without one, text is formatted with the Alpaca prompt. */
  formatter?: ChatFormatter
  /** The longest sequence trained on; longer records are cut to it. */
  seqLen: number
}

export interface LoadedDataset {
  file: string
  format: RecordFormat
  layout: FileLayout
  /** `alpaca-json`, `sharegpt-jsonl`…, as the dataset catalogue names formats. */
  formatName: string
  /** Ready for training, in file order. */
  records: TokenizedRecord[]
  stats: DatasetStats
  /** Malformed records left out (onError 'skip'). */
  skipped: SkippedRecord[]
  /** Things a user should know that do not stop training (e.g. lines that were not UTF-8), one line each. */
  warnings: string[]
  /** Record i as text with its response spans marked. */
  previewRecord(i: number): RecordPreview
}

export function loadDataset(file: string, options: LoadOptions): LoadedDataset {
  const { tokenizer, formatter, seqLen } = options
  const vocabSize = options.vocabSize ?? tokenizer?.vocabSize
  const parsed = parseDatasetFile(file, {
    ...(options.format === undefined ? {} : { format: options.format }),
    ...(options.layout === undefined ? {} : { layout: options.layout }),
    ...(vocabSize === undefined ? {} : { vocabSize }),
  })
  if (parsed.format !== 'tokenized' && tokenizer === undefined && parsed.records.length > 0) {
    throw DatasetError.file(file, `holds text records (${parsed.format}); formatting them needs the model's tokenizer (tokenizer.json)`)
  }

  const records: TokenizedRecord[] = []
  let valid = 0
  let truncated = 0
  let dropped = 0
  const invalid = [...parsed.invalid]
  for (const record of parsed.records) {
    let result: TokenizedRecord
    try {
      result = tokenizeRecord(record, { tokenizer, formatter })
      // The tokenizer may know more ids than the model has embeddings for.
      if (vocabSize !== undefined && record.kind !== 'tokens') {
        const outside = result.inputIds.find((id) => id >= vocabSize)
        if (outside !== undefined) throw new Error(`token id ${outside} is outside the model's vocabulary (size ${vocabSize})`)
      }
    } catch (err) {
      invalid.push({ ...record.source, problems: [{ ...record.source, message: messageOf(err) }] })
      continue
    }
    // Cut each record as soon as it is tokenized: only seqLen tokens of it are ever kept in memory.
    valid++
    const cut = truncateRecords([result], seqLen)
    truncated += cut.truncated
    dropped += cut.dropped
    records.push(...cut.records)
  }
  // Report in file order, whichever stage found the problem.
  invalid.sort((a, b) => (a.line ?? a.index ?? 0) - (b.line ?? b.index ?? 0))
  const skipped = applyPolicy(file, invalid, options.onError ?? 'stop')
  if (valid === 0) throw noRecords(file, skipped)

  if (records.length === 0) {
    throw noRecords(file, skipped, `all ${dropped} records are left without a response token when cut to ${seqLen} tokens`)
  }
  return {
    file,
    format: parsed.format,
    layout: parsed.layout,
    formatName: formatName(parsed.format, parsed.layout),
    records,
    stats: datasetStats(records, { truncated, dropped, skipped: skipped.length }),
    skipped,
    warnings: parsed.invalidUtf8 ? [describeEncoding(file, parsed.invalidUtf8)] : [],
    previewRecord(i) {
      const record = records[i]
      if (record === undefined) throw new RangeError(`record ${i} is outside the dataset (0 … ${records.length - 1})`)
      return previewRecord(record, tokenizer)
    },
  }
}
