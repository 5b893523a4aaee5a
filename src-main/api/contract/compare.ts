/**
 * The compare view: one prompt streamed from two contenders.
 * Part of the API contract (see index.ts).
 */
import { z } from 'zod'
import { Contender, ContenderMode, WeightPrecision } from './common'

export const CompareRequest = z
  .object({
    prompt: z.string().trim().min(1, 'must not be empty').max(20_000),
    a: Contender,
    b: Contender,
    maxNewTokens: z.number().int().positive().max(2048).default(128),
  })
  .strict()
export type CompareRequest = z.input<typeof CompareRequest>

export const CompareSide = z.enum(['a', 'b'])
export type CompareSide = z.infer<typeof CompareSide>

export const CompareStatus = z.object({
  compareId: z.string(),
  side: CompareSide,
  /** queued: waiting for the other side (they run one after another); loading: opening the model. */
  state: z.enum(['queued', 'loading', 'generating']),
  progress: z.number().min(0).max(1).optional(),
  message: z.string().optional(),
})

export const CompareToken = z.object({ compareId: z.string(), side: CompareSide, index: z.number().int().nonnegative(), text: z.string() })
export type CompareToken = z.infer<typeof CompareToken>

export const CompareDone = z.object({
  compareId: z.string(),
  side: CompareSide,
  finishReason: z.enum(['eos', 'stop', 'length', 'cancelled', 'error']),
  text: z.string(),
  /** The exit that answered (the full model when none was asked for); null when the model never opened. */
  exit: z.number().int().positive().nullable(),
  tokensPerSecond: z.number().nonnegative(),
  /** The weight precision that answered (fp32 where a quantized model fell back); absent when the model never opened. */
  precision: WeightPrecision.optional(),
  /** The decoding mode that answered (absent: at `exit`; in a mode `exit` is the full depth). */
  mode: ContenderMode.optional(),
  /** Exact: accepted ÷ drafted tokens (null when nothing was drafted). */
  acceptanceRate: z.number().nullable().optional(),
  /** Auto: the mean exit that chose each token (null when no token was made). */
  meanExit: z.number().nullable().optional(),
  /** The stored output (absent when cancelled or failed): what evaluations.vote refers to. */
  generationId: z.string().optional(),
  /** The compare set's item the prompt was stored as. */
  itemId: z.string().optional(),
  error: z.string().optional(),
})
export type CompareDone = z.infer<typeof CompareDone>

export const compareMethods = {
  /** Streams one prompt from two contenders (A, then B) in a worker; compare.token / compare.done per side. */
  'compare.generate': { request: CompareRequest, response: z.object({ compareId: z.string() }) },
  'compare.cancel': { request: z.object({ compareId: z.string().min(1) }).strict(), response: z.object({}) },
} as const

export const compareEvents = {
  'compare.status': CompareStatus,
  'compare.token': CompareToken,
  'compare.done': CompareDone,
} as const
