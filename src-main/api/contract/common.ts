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
export const Contender = z.object({ modelPath: z.string().min(1), exit: z.number().int().positive().optional() }).strict()
export type Contender = z.infer<typeof Contender>
