/** Messages between the evaluation service and an evaluation worker (one worker per evaluation). */
import { z } from 'zod'
import { EvaluationRequest, EvaluationRow, EvaluationWork } from '../api/contract'

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

export const FromEvaluationWorker = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('progress'),
    setId: z.string(),
    stage: z.string(),
    done: z.number().int(),
    total: z.number().int(),
    overallDone: z.number().int(),
    overallTotal: z.number().int(),
    etaSeconds: z.number().nonnegative().nullable(),
  }),
  z.object({
    type: z.literal('done'),
    ok: z.boolean(),
    cancelled: z.boolean().optional(),
    setId: z.string().optional(),
    error: z.string().optional(),
    judge: z.string().optional(),
    rows: z.array(EvaluationRow),
    work: EvaluationWork.optional(),
  }),
])
export type FromEvaluationWorker = z.infer<typeof FromEvaluationWorker>
