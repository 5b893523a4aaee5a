/**
 * Dataset files → validated records. Every malformed record is found and
 * reported with its file, line (JSONL) or array index (JSON) and field;
 * what happens then is the caller's policy (see {@link applyPolicy}).
 */
import { readFileSync } from 'node:fs'
import { extname } from 'node:path'
import { decodeUtf8, type EncodingReport } from './encoding'
import { DatasetError, ProblemList, messageOf } from './errors'
import type { RecordLocation, RecordProblem, SkippedRecord } from './errors'
import { describeJsonLineError, jsonSyntaxProblem } from './json-syntax'
import { RECORD_FORMATS, detectRecordFormat, validateRecord } from './formats'
import type { DatasetRecord, FileLayout, RecordFormat } from './formats'

/**
 * What to do with malformed records: 'stop' throws one DatasetError listing
 * every problem; 'skip' leaves those records out and reports each of them.
 * Either way nothing is trained on a record that failed a check.
 */
export type ErrorPolicy = 'stop' | 'skip'

export interface ReadOptions {
  /** The record format; detected from the first record when absent. */
  format?: RecordFormat
  /** JSON array or JSONL; detected from the content when absent. */
  layout?: FileLayout
  onError?: ErrorPolicy
  /** Pre-tokenized ids must be below this (the model's vocabulary size). */
  vocabSize?: number
}

export interface ReadResult {
  file: string
  format: RecordFormat
  layout: FileLayout
  /** The valid records, in file order. */
  records: DatasetRecord[]
  /** Records left out under onError 'skip' (empty under 'stop'). */
  skipped: SkippedRecord[]
  /** Lines that were not valid UTF-8 (read with U+FFFD), when there were any. */
  invalidUtf8?: EncodingReport
}

/**
 * The most characters one record may hold. Tokenizing costs about 10 µs and
 * 1 kB of transient memory per character of a word (measured with Llama 3's
 * BPE), so one 50 MB line took minutes and then exhausted V8's heap; 256 Ki
 * characters tokenize in about 3 s and are already several times what the
 * longest sequence a run trains on (everything past it is cut) holds.
 * Longer records are refused, with their line, before they are parsed.
 */
export const MAX_RECORD_CHARS = 256 * 1024

function tooLong(chars: number): string {
  return `the record is ${chars.toLocaleString('en-US')} characters long; a record may hold at most ${MAX_RECORD_CHARS.toLocaleString('en-US')} (far more text than any sequence length trains on)`
}

/** Reads and validates a dataset file, applying the error policy. */
export function readDataset(file: string, options: ReadOptions = {}): ReadResult {
  const parsed = parseDatasetFile(file, options)
  const skipped = applyPolicy(file, parsed.invalid, options.onError ?? 'stop')
  if (parsed.records.length === 0) throw noRecords(file, skipped)
  return { ...parsed, skipped }
}

/** Every record of the file, valid or not; throws only when the file as a whole is unusable. */
export function parseDatasetFile(
  file: string,
  options: Omit<ReadOptions, 'onError'> = {},
): Omit<ReadResult, 'skipped'> & { invalid: SkippedRecord[] } {
  let bytes: Buffer
  try {
    bytes = readFileSync(file)
  } catch (err) {
    throw DatasetError.file(file, `cannot be read (${messageOf(err)})`)
  }
  let decoded: ReturnType<typeof decodeUtf8>
  try {
    decoded = decodeUtf8(bytes)
  } catch (err) {
    // Beyond V8's longest string (about 512 MB of text).
    throw DatasetError.file(file, `cannot be read as text (${messageOf(err)})`)
  }
  const parsed = parseDatasetText(decoded.text, file, options)
  return decoded.invalid ? { ...parsed, invalidUtf8: decoded.invalid } : parsed
}

/** As {@link parseDatasetFile}, for text already read; `file` names it in messages. */
export function parseDatasetText(
  text: string,
  file: string,
  options: Omit<ReadOptions, 'onError'> = {},
): Omit<ReadResult, 'skipped'> & { invalid: SkippedRecord[] } {
  if (text.startsWith('\uFEFF')) text = text.slice(1)
  if (text.trim() === '') throw DatasetError.file(file, 'is empty: there are no records in it')
  const layout = options.layout ?? detectLayout(text, file)
  const values = layout === 'json' ? jsonArrayValues(text, file) : jsonLineValues(text, file)

  const firstValue = values.find((v): v is ParsedValue => v.ok)
  if (firstValue === undefined) {
    // Not one line is JSON: no policy can save such a file.
    const problems = new ProblemList()
    for (const entry of values) if (!entry.ok) problems.add(entry.problem)
    throw new DatasetError(`${file}: nothing to train on: no line is valid JSON`, problems.listed, problems.total)
  }
  const format = options.format ?? detectFormat(firstValue)
  const invalid: SkippedRecord[] = []
  const records: DatasetRecord[] = []
  for (const entry of values) {
    if (!entry.ok) {
      invalid.push({ ...entry.source, problems: [entry.problem] })
      continue
    }
    const result = validateRecord(entry.value, format, entry.source, { vocabSize: options.vocabSize })
    if (result.ok) records.push(result.record)
    else invalid.push({ ...entry.source, problems: result.problems })
  }
  return { file, format, layout, records, invalid }
}

/**
 * The policy applied to the invalid records: under 'stop', one DatasetError
 * listing every problem (the first 50, and a count of the rest); under
 * 'skip', the list of skipped records.
 */
export function applyPolicy(file: string, invalid: SkippedRecord[], policy: ErrorPolicy): SkippedRecord[] {
  if (policy === 'skip') return invalid
  const problems = new ProblemList()
  for (const record of invalid) for (const problem of record.problems) problems.add(problem)
  problems.throwIfAny(file)
  return []
}

/** The error for a dataset left with no record to train on. */
export function noRecords(file: string, skipped: SkippedRecord[], reason = 'no valid records'): DatasetError {
  const problems = new ProblemList()
  for (const record of skipped) for (const problem of record.problems) problems.add(problem)
  const why = skipped.length > 0 ? `${reason} (${skipped.length} skipped)` : reason
  return new DatasetError(`${file}: nothing to train on: ${why}`, problems.listed, problems.total)
}

// ---- Layout --------------------------------------------------------------

/**
 * A file starting with `[` holds a JSON array, one starting with `{` holds
 * JSON lines: the content decides, since `.json` files of JSON lines are
 * common. The extension decides only for content that is neither, so that
 * the error comes from the parser the user meant.
 */
function detectLayout(text: string, file: string): FileLayout {
  const first = text.trimStart()[0]
  if (first === '[') return 'json'
  if (first === '{') {
    // One object spread over many lines is not JSONL, and reporting every
    // line of it as invalid JSON would hide the real mistake.
    const firstLine = text.trimStart().split(/\r?\n/, 1)[0] ?? ''
    if (firstLine.length <= MAX_RECORD_CHARS && !parses(firstLine) && parses(text)) {
      throw DatasetError.file(file, 'holds a single JSON object; write the records as a JSON array, or as one JSON object per line (JSONL)')
    }
    return 'jsonl'
  }
  return extname(file).toLowerCase() === '.json' ? 'json' : 'jsonl'
}

function parses(text: string): boolean {
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}

// ---- Parsing -------------------------------------------------------------

interface ParsedValue {
  ok: true
  source: RecordLocation
  value: unknown
}
type Entry = ParsedValue | { ok: false; source: RecordLocation; problem: RecordProblem }

function jsonArrayValues(text: string, file: string): Entry[] {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    const { description, position } = jsonSyntaxProblem(err)
    const line = position === undefined ? undefined : lineAt(text, position)
    throw DatasetError.file(file, `is not valid JSON (${description})`, line)
  }
  if (!Array.isArray(json)) {
    throw DatasetError.file(file, `expected a JSON array of records, got ${json === null ? 'null' : typeof json}`)
  }
  return json.map((value, index): Entry => {
    const source = { file, index }
    const chars = charactersIn(value, MAX_RECORD_CHARS)
    return chars > MAX_RECORD_CHARS ? { ok: false, source, problem: { ...source, message: tooLong(chars) } } : { ok: true, source, value }
  })
}

/** Characters of a parsed record's strings and keys, counted until `limit` is passed. */
function charactersIn(value: unknown, limit: number): number {
  let total = 0
  const stack: unknown[] = [value]
  while (stack.length > 0 && total <= limit) {
    const item = stack.pop()
    if (typeof item === 'string') total += item.length
    else if (Array.isArray(item)) for (const element of item) stack.push(element)
    else if (typeof item === 'object' && item !== null) {
      for (const [key, element] of Object.entries(item)) {
        total += key.length
        stack.push(element)
      }
    } else total += 1
  }
  return total
}

function jsonLineValues(text: string, file: string): Entry[] {
  const entries: Entry[] = []
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!
    if (line.trim() === '') continue
    const source = { file, line: i + 1 }
    // Measured before parsing: a huge line must cost nothing beyond the read.
    if (line.length > MAX_RECORD_CHARS) {
      entries.push({ ok: false, source, problem: { ...source, message: tooLong(line.length) } })
      continue
    }
    try {
      entries.push({ ok: true, source, value: JSON.parse(line) })
    } catch (err) {
      entries.push({ ok: false, source, problem: { ...source, message: `invalid JSON (${describeJsonLineError(err)})` } })
    }
  }
  return entries
}

function lineAt(text: string, position: number): number {
  let line = 1
  for (let i = 0; i < position && i < text.length; i++) if (text.charCodeAt(i) === 10) line++
  return line
}

function detectFormat(first: ParsedValue): RecordFormat {
  const format = detectRecordFormat(first.value)
  if (format !== undefined) return format
  const value = first.value
  const found =
    typeof value === 'object' && value !== null && !Array.isArray(value)
      ? `its fields are ${Object.keys(value).map((k) => `"${k}"`).join(', ') || 'none'}`
      : `it is ${Array.isArray(value) ? 'an array' : value === null ? 'null' : `a ${typeof value}`}, not an object`
  throw new DatasetError(
    `${first.source.file}: cannot tell the dataset format from the first record (${found}). ` +
      'Expected Alpaca ("instruction", "output"), ShareGPT ("conversations"), OpenAI messages ("messages") ' +
      `or pre-tokenized ("input_ids") records, or choose the format (${RECORD_FORMATS.join(', ')}).`,
    [{ ...first.source, message: 'record of unknown format' }],
  )
}
