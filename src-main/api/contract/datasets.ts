/**
 * Datasets for tuning: previews as the trainer sees them, and uploads.
 * Part of the API contract (see index.ts).
 */
import { z } from 'zod'

export const DatasetPreviewRequest = z
  .object({
    modelPath: z.string().min(1),
    dataPath: z.string().min(1),
    seqLen: z.number().int().min(2).default(512),
    /** How many records to show formatted. */
    limit: z.number().int().min(0).max(50).default(5),
  })
  .strict()
export type DatasetPreviewRequest = z.input<typeof DatasetPreviewRequest>

export const DatasetProblem = z.object({
  /** 1-based line (JSONL, or a JSON file that does not parse); null otherwise. */
  line: z.number().int().nullable(),
  /** 0-based position in a JSON array; null otherwise. */
  index: z.number().int().nullable(),
  /** The field as a path, e.g. `conversations[2].value`; null when the record as a whole is wrong. */
  field: z.string().nullable(),
  message: z.string(),
})
export type DatasetProblem = z.infer<typeof DatasetProblem>

export const PreviewSegment = z.object({
  text: z.string(),
  /** The loss is taken on these tokens (the response); false for context (prompt, template). */
  trained: z.boolean(),
  tokens: z.number().int(),
})

export const PreviewRecord = z.object({
  line: z.number().int().nullable(),
  index: z.number().int().nullable(),
  /** Tokens after truncation to seqLen. */
  tokens: z.number().int(),
  segments: z.array(PreviewSegment),
})
export type PreviewRecord = z.infer<typeof PreviewRecord>

export const DatasetStatistics = z.object({
  /** Records that will be trained on. */
  records: z.number().int(),
  tokens: z.number().int(),
  meanTokens: z.number(),
  maxTokens: z.number().int(),
  /** Tokens the loss is taken on. */
  trainedTokens: z.number().int(),
  /** Records longer than seqLen, cut to it. */
  truncated: z.number().int(),
  /** Records left with no response token after the cut (not trained on). */
  dropped: z.number().int(),
  /** Records with errors, left out when the run skips them. */
  skipped: z.number().int(),
})
export type DatasetStatistics = z.infer<typeof DatasetStatistics>

export const DatasetPreview = z.object({
  dataPath: z.string(),
  /** `alpaca-jsonl`, `sharegpt-json`…; null when the file could not be read as records. */
  format: z.string().nullable(),
  /** How text records become prompts: the model's chat template, or the Alpaca prompt. */
  template: z.enum(['chat-template', 'alpaca']).nullable(),
  seqLen: z.number().int(),
  records: z.array(PreviewRecord),
  /** Null when nothing can be trained on (see fatal). */
  stats: DatasetStatistics.nullable(),
  /** Every problem found, in file order, up to a cap; errorCount counts them all. */
  errors: z.array(DatasetProblem),
  errorCount: z.number().int(),
  /** Why the dataset cannot be trained on at all; null when it can. */
  fatal: z.string().nullable(),
  /** What a user should know that does not stop training (e.g. lines that were not UTF-8), one sentence each. */
  warnings: z.array(z.string()),
})
export type DatasetPreview = z.infer<typeof DatasetPreview>

/** Browser mode: a dataset file's text, stored in the data folder (the server cannot read the browser's disk). */
export const DatasetUpload = z
  .object({
    name: z.string().min(1).max(200),
    content: z.string(),
  })
  .strict()

export const datasetsMethods = {
  /** A dataset as the trainer would see it with this model: formatted records, statistics, every error. Runs in a worker. */
  'datasets.preview': { request: DatasetPreviewRequest, response: DatasetPreview },
  /** Stores an uploaded dataset file in the data folder's datasets/ and returns its path (size-capped). */
  'datasets.upload': { request: DatasetUpload, response: z.object({ path: z.string() }) },
} as const
