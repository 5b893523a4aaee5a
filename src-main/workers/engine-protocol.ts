/**
 * Messages between the engine service (main thread) and the engine worker.
 * Both sides validate what they receive: a worker is another thread's code.
 */
import { z } from 'zod'
import { EngineStatus, ExecutionProviderPreference, GenerateRequest, GenerationDone, GenerationToken } from '../api/contract'

export const ToWorker = z.discriminatedUnion('type', [
  z.object({ type: z.literal('load'), path: z.string(), provider: ExecutionProviderPreference, cacheDir: z.string().optional() }),
  z.object({ type: z.literal('unload') }),
  z.object({ type: z.literal('generate'), generationId: z.string(), request: GenerateRequest }),
  z.object({ type: z.literal('setExit'), generationId: z.string(), exit: z.number().int().positive() }),
  z.object({ type: z.literal('cancel'), generationId: z.string() }),
])
export type ToWorker = z.input<typeof ToWorker>

export const FromWorker = z.discriminatedUnion('type', [
  z.object({ type: z.literal('status'), status: EngineStatus }),
  z.object({ type: z.literal('token'), token: GenerationToken }),
  z.object({ type: z.literal('done'), done: GenerationDone }),
  z.object({ type: z.literal('log'), message: z.string() }),
])
export type FromWorker = z.infer<typeof FromWorker>
