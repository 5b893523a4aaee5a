/**
 * Messages between the evaluation service and an evaluation worker (one
 * worker per evaluation). The worker never opens the database: it gets the
 * set's items and what is already recorded, and reports each answer and
 * verdict it makes; the service stores them.
 */
import { z } from 'zod'
import { Contender, EvaluationDone, EvaluationProgress, Verdict } from '../api/contract'
import { CancelJob } from './worker-envelope'

/** A contender with its exit settled, as answers are recorded (the engine's ContenderAtExit). */
const ContenderAtExit = Contender.required({ exit: true })
/** What decoding measured on an answer (the engine's AnswerStats), stored with it. */
const AnswerStats = z.object({ tokens: z.number().nonnegative(), drafted: z.number().nonnegative(), accepted: z.number().nonnegative(), exitSum: z.number().nonnegative() })
const Answer = z.object({ output: z.string(), tokensPerSecond: z.number().nullable(), stats: AnswerStats.optional() })
const JudgeVerdict = z.object({ verdict: Verdict, reason: z.string(), reference: z.string() })

export const StartEvaluation = z.object({
  type: z.literal('start'),
  job: z.object({
    setId: z.string(),
    items: z.array(z.object({ id: z.string(), idx: z.number().int(), instruction: z.string(), input: z.string(), reference: z.string().nullable() })),
    a: Contender,
    b: Contender,
    judge: z.string(),
    matrix: z.boolean(),
    maxNewTokens: z.number().int().positive(),
  }),
  /** Answers and verdicts already stored: the worker skips them (a resume, a rerun). */
  recorded: z.object({
    answers: z.array(z.object({ itemId: z.string(), contender: ContenderAtExit, answer: Answer })),
    verdicts: z.array(z.object({ itemId: z.string(), a: ContenderAtExit, b: ContenderAtExit, judge: z.string(), ab: Verdict, ba: Verdict })),
  }),
})
export type StartEvaluation = z.input<typeof StartEvaluation>

/** Stop after the item in hand; the worker answers with a `done` marked cancelled. */
export const CancelEvaluation = CancelJob
export type CancelEvaluation = z.input<typeof CancelEvaluation>

export const ToEvaluationWorker = z.discriminatedUnion('type', [StartEvaluation, CancelEvaluation])
export type ToEvaluationWorker = z.input<typeof ToEvaluationWorker>

/** Progress and the end (the contract's event payloads, less the evaluation id: the service knows which worker spoke), and what to store. */
export const FromEvaluationWorker = z.discriminatedUnion('type', [
  EvaluationProgress.omit({ evaluationId: true }).extend({ type: z.literal('progress'), setId: z.string() }),
  EvaluationDone.omit({ evaluationId: true }).extend({ type: z.literal('done') }),
  /** A new answer, to store before the progress that counts it. */
  z.object({ type: z.literal('answer'), itemId: z.string(), contender: ContenderAtExit, answer: Answer }),
  /** A new pair of verdicts (A's answer shown first, then second). */
  z.object({ type: z.literal('verdicts'), itemId: z.string(), a: ContenderAtExit, b: ContenderAtExit, judge: z.string(), ab: JudgeVerdict, ba: JudgeVerdict }),
])
export type FromEvaluationWorker = z.infer<typeof FromEvaluationWorker>
