/** Shared pieces of the API contract. */
import { z } from 'zod'

/** A request with no parameters: unknown keys are an error. */
export const Empty = z.object({}).strict()

/**
 * A contender in a request: a model folder, optionally cut at an exit (a
 * layer count); no exit means the full model. Evaluations and the compare
 * view take the same shape; services/engine-types.ts keeps it equal to the
 * engine's `Contender` (engine/judge/contender.ts).
 */
/** How a model's weights are held while it runs: fp32 as stored, or block-quantized to int8 / int4. */
export const WeightPrecision = z.enum(['fp32', 'int8', 'int4'])
export type WeightPrecision = z.infer<typeof WeightPrecision>

/**
 * How a contender decodes instead of at a fixed exit: Exact (the full
 * model's greedy tokens, drafted at a shallow exit) or Auto (per token, the
 * first exit at least `tau` sure, else the full model). The engine's
 * `ContenderMode` (engine/judge/contender.ts), checked equal in services/engine-types.ts.
 */
export const ContenderMode = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('exact') }).strict(),
  z.object({ kind: z.literal('auto'), tau: z.number().min(0).max(1) }).strict(),
])
export type ContenderMode = z.infer<typeof ContenderMode>

/**
 * A contender may also name the weight precision it runs in (default fp32),
 * so int4 and fp32 of one model can be pitted against each other, and a
 * decoding mode (then no exit: the mode picks the depth per token; the
 * services refuse both together).
 */
export const Contender = z
  .object({ modelPath: z.string().min(1), exit: z.number().int().positive().optional(), precision: WeightPrecision.optional(), mode: ContenderMode.optional() })
  .strict()
export type Contender = z.infer<typeof Contender>
