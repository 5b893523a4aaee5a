/** Messages between the dataset service and a dataset worker (one worker per preview). */
import { z } from 'zod'
import { DatasetPreview } from '../api/contract'

export const StartPreview = z.object({
  type: z.literal('preview'),
  modelPath: z.string(),
  dataPath: z.string(),
  seqLen: z.number().int().min(2),
  limit: z.number().int().min(0),
})
export type StartPreview = z.input<typeof StartPreview>

export const FromDatasetWorker = z.discriminatedUnion('type', [
  z.object({ type: z.literal('preview'), preview: DatasetPreview }),
  /** `field` names the request field at fault, when the failure is the user's to fix. */
  z.object({ type: z.literal('failed'), error: z.string(), field: z.enum(['modelPath', 'dataPath']).optional() }),
])
export type FromDatasetWorker = z.infer<typeof FromDatasetWorker>
