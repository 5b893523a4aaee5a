/** Shared pieces of the API contract. */
import { z } from 'zod'

/** A request with no parameters: unknown keys are an error. */
export const Empty = z.object({}).strict()
