/** Messages between the evaluation service and an evaluation worker (one worker per evaluation). */
import { z } from 'zod'
import { EvaluationDone, EvaluationProgress, EvaluationRequest } from '../api/contract'

export const StartEvaluation = z.object({
  type: z.literal('start'),
  databasePath: z.string(),
  /** better-sqlite3 built for Electron's ABI, when running inside Electron. */
  nativeBinding: z.string().optional(),
  request: EvaluationRequest,
})
export type StartEvaluation = z.input<typeof StartEvaluation>

/** Stop after the item in hand; the worker answers with a `done` marked cancelled. */
export const CancelEvaluation = z.object({ type: z.literal('cancel') })
export type CancelEvaluation = z.input<typeof CancelEvaluation>

/** The contract's event payloads, less the evaluation id (the service knows which worker spoke). */
export const FromEvaluationWorker = z.discriminatedUnion('type', [
  EvaluationProgress.omit({ evaluationId: true }).extend({ type: z.literal('progress'), setId: z.string() }),
  EvaluationDone.omit({ evaluationId: true }).extend({ type: z.literal('done') }),
])
export type FromEvaluationWorker = z.infer<typeof FromEvaluationWorker>
