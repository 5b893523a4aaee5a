/**
 * Messages between the compare service (main thread) and the compare worker.
 * Both sides validate what they receive: a worker is another thread's code.
 * Log lines and faults travel in the shared envelope (worker-envelope.ts).
 */
import { z } from 'zod'
import { CompareDone, CompareSide, CompareStatus, CompareToken, ContenderMode, ExecutionProviderPreference, WeightPrecision } from '../api/contract'

export const ToCompareWorker = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('generate'),
    compareId: z.string(),
    side: CompareSide,
    modelPath: z.string(),
    exit: z.number().int().positive(),
    /** Absent: fp32. */
    precision: WeightPrecision.optional(),
    /** Absent: at `exit`; Exact or Auto: `exit` is the full depth and the mode picks it per token. */
    mode: ContenderMode.optional(),
    prompt: z.string(),
    maxNewTokens: z.number().int().positive(),
    provider: ExecutionProviderPreference,
    cacheDir: z.string().optional(),
  }),
  z.object({ type: z.literal('cancel'), compareId: z.string() }),
])
export type ToCompareWorker = z.input<typeof ToCompareWorker>

export const FromCompareWorker = z.discriminatedUnion('type', [
  CompareStatus.extend({ type: z.literal('status') }),
  CompareToken.extend({ type: z.literal('token') }),
  CompareDone.omit({ generationId: true, itemId: true }).extend({
    type: z.literal('done'),
    /** Tokens, drafted and accepted ones, and summed exits: stored with the answer as batch evaluations store theirs. */
    stats: z.object({ tokens: z.number().int(), drafted: z.number().int(), accepted: z.number().int(), exitSum: z.number().int() }).optional(),
  }),
])
export type FromCompareWorker = z.infer<typeof FromCompareWorker>
