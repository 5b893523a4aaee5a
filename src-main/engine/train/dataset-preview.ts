/**
 * A dataset as a run with this model would train on it, for the tuning
 * wizard: the first records formatted (template applied, the tokens the loss
 * is taken on marked), statistics, and every problem with its line and
 * field. It reads the data through openTuneData, exactly as the tune job
 * does, with malformed records skipped so that all of them are reported.
 *
 * Tokenizing a whole file takes seconds for a large one: the service runs
 * this in a worker thread, never on the main thread.
 */
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { DatasetError, IGNORE_INDEX, type RecordProblem } from '../data'
import { parseConfig } from '../model/config'
import type { ModelConfig } from '../model/types'
import { openTuneData } from './tune-data'

/** One problem of a dataset file, located by line (JSONL) or array index (JSON) and field. */
export interface DatasetProblem {
  /** 1-based line (JSONL, or a JSON file that does not parse); null otherwise. */
  line: number | null
  /** 0-based position in a JSON array; null otherwise. */
  index: number | null
  /** The field as a path, e.g. `conversations[2].value`; null when the record as a whole is wrong. */
  field: string | null
  message: string
}

export interface PreviewSegment {
  text: string
  /** The loss is taken on these tokens (the response); false for context (prompt, template). */
  trained: boolean
  tokens: number
}

export interface PreviewRecord {
  line: number | null
  index: number | null
  /** Tokens after truncation to seqLen. */
  tokens: number
  segments: PreviewSegment[]
}

export interface DatasetStatistics {
  /** Records that will be trained on. */
  records: number
  tokens: number
  meanTokens: number
  maxTokens: number
  /** Tokens the loss is taken on. */
  trainedTokens: number
  /** Records longer than seqLen, cut to it. */
  truncated: number
  /** Records left with no response token after the cut (not trained on). */
  dropped: number
  /** Records with errors, left out when the run skips them. */
  skipped: number
}

/**
 * What the tuning wizard shows of a dataset. The engine owns this type; the
 * API contract's schema is checked against it (services/engine-types.ts).
 */
export interface DatasetPreview {
  dataPath: string
  /** `alpaca-jsonl`, `sharegpt-json`…; null when the file could not be read as records. */
  format: string | null
  /** How text records become prompts: the model's chat template, or the Alpaca prompt. */
  template: 'chat-template' | 'alpaca' | null
  seqLen: number
  records: PreviewRecord[]
  /** Null when nothing can be trained on (see fatal). */
  stats: DatasetStatistics | null
  /** Every problem found, in file order, up to a cap; errorCount counts them all. */
  errors: DatasetProblem[]
  errorCount: number
  /** Why the dataset cannot be trained on at all; null when it can. */
  fatal: string | null
  /** What a user should know that does not stop training (e.g. lines that were not UTF-8), one sentence each. */
  warnings: string[]
}

/** Problems listed in a preview; the rest are counted. Enough to see a pattern, small enough to show. */
export const maxPreviewProblems = 200

export interface PreviewOptions {
  modelPath: string
  dataPath: string
  seqLen: number
  limit: number
}

/** A model folder the preview cannot use; `field` names the request field at fault. */
export class PreviewInputError extends Error {
  constructor(
    readonly field: 'modelPath' | 'dataPath',
    message: string,
  ) {
    super(message)
    this.name = 'PreviewInputError'
  }
}

/** config.json of a model folder, or a PreviewInputError saying what is wrong with it. */
export function readModelConfig(modelPath: string): ModelConfig {
  const file = join(resolve(modelPath), 'config.json')
  let json: unknown
  try {
    json = JSON.parse(readFileSync(file, 'utf8'))
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const why = code === 'ENOENT' ? 'does not exist: is this a Hugging Face model folder?' : `cannot be read (${(error as Error).message})`
    throw new PreviewInputError('modelPath', `${file} ${why}`)
  }
  try {
    return parseConfig(json, file)
  } catch (error) {
    throw new PreviewInputError('modelPath', (error as Error).message)
  }
}

function toProblem(problem: RecordProblem): DatasetProblem {
  return { line: problem.line ?? null, index: problem.index ?? null, field: problem.field ?? null, message: problem.message }
}

export function previewTuneDataset(options: PreviewOptions): DatasetPreview {
  const dataPath = resolve(options.dataPath)
  const config = readModelConfig(options.modelPath)
  const empty = { dataPath, format: null, template: null, seqLen: options.seqLen, records: [], stats: null, warnings: [] }
  let opened: ReturnType<typeof openTuneData>
  try {
    opened = openTuneData(options.modelPath, dataPath, { seqLen: options.seqLen, onError: 'skip', vocabSize: config.vocabSize })
  } catch (error) {
    if (!(error instanceof DatasetError)) throw new PreviewInputError('modelPath', (error as Error).message)
    // Nothing trainable: the file as a whole is unusable, or no record is valid.
    const fatal = error.message.split('\n', 1)[0]!
    return { ...empty, errors: error.problems.map(toProblem), errorCount: error.total, fatal }
  }
  const { dataset, template } = opened
  const problems = dataset.skipped.flatMap((record) => record.problems)
  const shown = Math.min(options.limit, dataset.records.length)
  const records = Array.from({ length: shown }, (_, i) => {
    const record = dataset.records[i]!
    return {
      line: record.source.line ?? null,
      index: record.source.index ?? null,
      tokens: record.inputIds.length,
      segments: dataset.previewRecord(i).segments.map((s) => ({ text: s.text, trained: s.response, tokens: s.tokens })),
    }
  })
  const { stats } = dataset
  return {
    dataPath,
    format: dataset.formatName,
    template: dataset.format === 'tokenized' ? null : template,
    seqLen: options.seqLen,
    records,
    stats: {
      records: stats.records,
      tokens: stats.tokens,
      meanTokens: stats.records ? stats.tokens / stats.records : 0,
      maxTokens: stats.longest,
      trainedTokens: countTrained(dataset.records),
      truncated: stats.truncated,
      dropped: stats.dropped,
      skipped: stats.skipped,
    },
    errors: problems.slice(0, maxPreviewProblems).map(toProblem),
    errorCount: problems.length,
    fatal: null,
    warnings: dataset.warnings,
  }
}

/** Tokens the loss is taken on: labelled, at a position after the first (the loss shifts labels by one). */
function countTrained(records: readonly { labels: number[] }[]): number {
  let n = 0
  for (const { labels } of records) for (let t = 1; t < labels.length; t++) if (labels[t] !== IGNORE_INDEX) n++
  return n
}
