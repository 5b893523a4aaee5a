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
 * A contender may also name the weight precision it runs in (default fp32),
 * so int4 and fp32 of one model can be pitted against each other.
 */
export const Contender = z
  .object({ modelPath: z.string().min(1), exit: z.number().int().positive().optional(), precision: WeightPrecision.optional() })
  .strict()
export type Contender = z.infer<typeof Contender>
