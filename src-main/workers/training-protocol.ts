/**
 * Messages between the training service and a training worker (one worker
 * per running job). Log lines and faults travel in the shared envelope
 * (worker-envelope.ts).
 */
import { z } from 'zod'
import { ExecutionProviderPreference, TuneRequest } from '../api/contract'
import { CancelJob } from './worker-envelope'

export const ToTrainingWorker = z.discriminatedUnion('type', [
  z.object({ type: z.literal('start'), request: TuneRequest, provider: ExecutionProviderPreference, resume: z.boolean() }),
  CancelJob,
])
export type ToTrainingWorker = z.input<typeof ToTrainingWorker>

const Losses = z.record(z.string(), z.number())

export const FromTrainingWorker = z.discriminatedUnion('type', [
  z.object({ type: z.literal('prepared'), totalSteps: z.number().int(), resumedFrom: z.number().int() }),
  z.object({
    type: z.literal('step'),
    step: z.number().int(),
    totalSteps: z.number().int(),
    loss: Losses,
    lr: z.number(),
    gradNorm: z.number(),
    tokensPerSecond: z.number(),
    etaSeconds: z.number(),
  }),
  z.object({ type: z.literal('validation'), step: z.number().int(), loss: Losses, perplexity: Losses }),
  z.object({ type: z.literal('checkpoint'), step: z.number().int(), path: z.string() }),
  z.object({ type: z.literal('done'), finished: z.boolean(), step: z.number().int(), out: z.string().optional() }),
  z.object({ type: z.literal('failed'), error: z.string() }),
])
export type FromTrainingWorker = z.infer<typeof FromTrainingWorker>
