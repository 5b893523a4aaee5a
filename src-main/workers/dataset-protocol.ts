/** Messages between the services and a dataset worker (one worker per preview or job export). */
import { z } from 'zod'
import { DatasetPreview, ExportedJob, TuneRequest } from '../api/contract'

export const StartPreview = z.object({
  type: z.literal('preview'),
  modelPath: z.string(),
  dataPath: z.string(),
  seqLen: z.number().int().min(2),
  limit: z.number().int().min(0),
})
export type StartPreview = z.input<typeof StartPreview>

/** Writes a PyTorch job folder (engine/train/job-export.ts) for a tuning request (its outDir is not used). */
export const StartJobExport = z.object({
  type: z.literal('exportJob'),
  request: TuneRequest,
  jobDir: z.string(),
  templatesDir: z.string().optional(),
})
export type StartJobExport = z.input<typeof StartJobExport>

export const ToDatasetWorker = z.discriminatedUnion('type', [StartPreview, StartJobExport])
export type ToDatasetWorker = z.input<typeof ToDatasetWorker>

export const FromDatasetWorker = z.discriminatedUnion('type', [
  z.object({ type: z.literal('preview'), preview: DatasetPreview }),
  z.object({ type: z.literal('exported'), job: ExportedJob }),
  /**
   * `field` (a preview) or `fields` (a job export) name the request fields at
   * fault, when the failure is the user's to fix.
   */
  z.object({ type: z.literal('failed'), error: z.string(), field: z.enum(['modelPath', 'dataPath']).optional(), fields: z.array(z.string()).optional() }),
])
export type FromDatasetWorker = z.infer<typeof FromDatasetWorker>
