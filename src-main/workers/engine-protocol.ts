/**
 * Messages between the engine service (main thread) and the engine worker.
 * Both sides validate what they receive: a worker is another thread's code.
 * Log lines and faults travel in the shared envelope (worker-envelope.ts).
 */
import { z } from 'zod'
import { AdapterRequest, ChatMessage, DraftCalibration, EngineStatus, LoadedWeights, ExecutionProviderPreference, GenerateRequest, GenerationDone, GenerationToken, WeightsRequest } from '../api/contract'

export const ToWorker = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('load'),
    path: z.string(),
    provider: ExecutionProviderPreference,
    cacheDir: z.string().optional(),
    /** Weight precision; absent: fp32. */
    weights: WeightsRequest.optional(),
    /** A PEFT adapter merged into the weights at load; absent: the base model alone. */
    adapter: AdapterRequest.optional(),
  }),
  z.object({ type: z.literal('unload') }),
  z.object({ type: z.literal('generate'), generationId: z.string(), request: GenerateRequest }),
  z.object({ type: z.literal('setExit'), generationId: z.string(), exit: z.number().int().positive() }),
  z.object({ type: z.literal('cancel'), generationId: z.string() }),
  /** How a conversation fits the loaded model's context, without generating (answered at once, not queued). */
  z.object({ type: z.literal('measure'), requestId: z.string(), messages: z.array(ChatMessage).min(1) }),
  /** Measures Exact mode at every draft exit of the loaded model on the built-in prompts (queued like a generation). */
  z.object({ type: z.literal('calibrate') }),
  /** Merges an adapter into its base model as a new Hugging Face folder (engine/model/merge-adapter.ts; queued like a load). */
  z.object({ type: z.literal('merge'), baseDir: z.string(), adapterDir: z.string(), outDir: z.string(), rank: z.number().int().positive().optional() }),
])
export type ToWorker = z.input<typeof ToWorker>

export const FromWorker = z.discriminatedUnion('type', [
  z.object({ type: z.literal('status'), status: EngineStatus }),
  z.object({ type: z.literal('token'), token: GenerationToken }),
  z.object({ type: z.literal('done'), done: GenerationDone }),
  z.object({
    type: z.literal('measured'),
    requestId: z.string(),
    /** Prompt tokens after fitting, and the oldest messages left out to fit. */
    fit: z.object({ promptTokens: z.number().int().nonnegative(), droppedMessages: z.number().int().nonnegative() }).optional(),
    /** Why the prompt cannot be taken (too long even after fitting, an id outside the vocabulary). */
    refused: z.string().optional(),
    /** Anything else (no model loaded, no tokenizer). */
    error: z.string().optional(),
  }),
  z.object({ type: z.literal('calibrationProgress'), progress: z.number().min(0).max(1), message: z.string() }),
  /** The calibration, and the precision it was measured in; or why there is none. */
  z.object({ type: z.literal('calibrated'), calibration: DraftCalibration.optional(), weights: LoadedWeights.optional(), error: z.string().optional() }),
  z.object({ type: z.literal('mergeProgress'), progress: z.number().min(0).max(1), message: z.string() }),
  /** The merged folder and its files; or why there is none. */
  z.object({ type: z.literal('merged'), dir: z.string().optional(), files: z.array(z.string()).optional(), error: z.string().optional() }),
])
export type FromWorker = z.infer<typeof FromWorker>
