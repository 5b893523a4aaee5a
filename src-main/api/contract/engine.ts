/**
 * The inference engine: loading a model and generating with a movable exit.
 * Part of the API contract (see index.ts).
 */
import { z } from 'zod'
import { Empty, WeightPrecision } from './common'

export { WeightPrecision }

/** Weights per quantization block (int8 / int4); default 32. */
export const QuantBlockSize = z.union([z.literal(32), z.literal(64), z.literal(128)])

/** The precision to load a model in (engine.load); default fp32. */
export const WeightsRequest = z.object({ precision: WeightPrecision, blockSize: QuantBlockSize.optional() }).strict()
export type WeightsRequest = z.infer<typeof WeightsRequest>

/** The precision a model was loaded in; the LM head is int8 when the layers are quantized. */
export const LoadedWeights = z.object({
  precision: WeightPrecision,
  blockSize: QuantBlockSize.optional(),
  lmHead: z.enum(['fp32', 'int8']).optional(),
})
export type LoadedWeights = z.infer<typeof LoadedWeights>

/** A PEFT LoRA / DyLoRA adapter to merge into the base model's weights at load; `rank`: a DyLoRA adapter's nested rank (default its r). */
export const AdapterRequest = z.object({ path: z.string().min(1), rank: z.number().int().positive().optional() }).strict()
export type AdapterRequest = z.infer<typeof AdapterRequest>

/** The adapter a loaded model runs with: its folder, the rank merged (of its r), and its kind. */
export const AppliedAdapter = z.object({ path: z.string(), rank: z.number().int().positive(), r: z.number().int().positive(), kind: z.enum(['lora', 'dylora']) })
export type AppliedAdapter = z.infer<typeof AppliedAdapter>

/** Decoding beside a fixed exit: 'exact' (the full model's tokens, drafted and verified), 'auto' (the first confident exit per token). */
export const DecodingMode = z.enum(['exact', 'auto'])
export type DecodingMode = z.infer<typeof DecodingMode>

export const LoadedModelInfo = z.object({
  path: z.string(),
  name: z.string(),
  architecture: z.string(),
  numLayers: z.number().int().positive(),
  /** The longest sequence (prompt and answer) the model takes, in tokens (max_position_embeddings). */
  contextLength: z.number().int().positive(),
  /** Exits (layer counts) the budget slider offers, ascending; the last is numLayers. */
  exits: z.array(z.number().int().positive()),
  hasTokenizer: z.boolean(),
  hasChatTemplate: z.boolean(),
  /** The execution provider the model runs on, and why it is not the one asked for. */
  provider: z.string(),
  fallbackReason: z.string().optional(),
  /** The weight precision it runs in (absent from engines that predate precisions), and why it is not the one asked for. */
  weights: LoadedWeights.optional(),
  weightsFallbackReason: z.string().optional(),
  /** Decoding modes the engine offers for this model (absent from engines that predate them). */
  modes: z.array(DecodingMode).optional(),
  /** The adapter merged into the weights at load; absent for the base model alone. */
  adapter: AppliedAdapter.optional(),
})
export type LoadedModelInfo = z.infer<typeof LoadedModelInfo>

export const EngineStatus = z.object({
  state: z.enum(['empty', 'loading', 'ready', 'error']),
  model: LoadedModelInfo.optional(),
  /** While loading: 0..1 and what is happening. */
  progress: z.number().min(0).max(1).optional(),
  message: z.string().optional(),
  error: z.string().optional(),
})
export type EngineStatus = z.infer<typeof EngineStatus>

export const ChatMessage = z.object({ role: z.enum(['system', 'user', 'assistant']), content: z.string() })
export type ChatMessage = z.infer<typeof ChatMessage>

export const Sampling = z
  .object({
    /** 0 = greedy. */
    temperature: z.number().min(0).max(10).default(0),
    topK: z.number().int().positive().optional(),
    topP: z.number().gt(0).max(1).optional(),
    repetitionPenalty: z.number().positive().optional(),
    seed: z.number().int().optional(),
  })
  .strict()
export type Sampling = z.infer<typeof Sampling>

export const GenerateRequest = z
  .object({
    /**
     * Exactly one of prompt, promptIds and messages. Each must fit the model's context
     * (LoadedModelInfo.contextLength) with room for one new token, or it is refused; messages
     * lose their oldest turns first (see README, "Long prompts"). Text is capped like a chat message.
     */
    prompt: z.string().max(100000).optional(),
    promptIds: z.array(z.number().int().nonnegative()).min(1).optional(),
    messages: z.array(ChatMessage).min(1).optional(),
    /** Starting exit (layer count); default the full model. Change it mid-answer with engine.setExit. */
    exit: z.number().int().positive().optional(),
    /** A decoding mode instead of a fixed exit; engine.setExit leaves it for that exit. */
    mode: DecodingMode.optional(),
    /** Auto's confidence threshold (top-token probability), default 0.5. */
    autoTau: z.number().min(0).max(1).optional(),
    maxNewTokens: z.number().int().positive().max(8192).default(256),
    sampling: Sampling.default({ temperature: 0 }),
    stopStrings: z.array(z.string().min(1)).max(16).default([]),
  })
  .strict()
  .refine((r) => [r.prompt, r.promptIds, r.messages].filter((x) => x !== undefined).length === 1, {
    message: 'give exactly one of prompt, promptIds and messages',
  })
export type GenerateRequest = z.input<typeof GenerateRequest>

export const GenerationToken = z.object({
  generationId: z.string(),
  index: z.number().int().nonnegative(),
  id: z.number().int().nonnegative(),
  text: z.string(),
  /** The exit (layer count) whose logits chose this token: the full depth for every Exact token. */
  exit: z.number().int().positive(),
  /** Exact mode: a shallow draft the full model accepted. */
  drafted: z.boolean().optional(),
})
export type GenerationToken = z.infer<typeof GenerationToken>

export const GenerationDone = z.object({
  generationId: z.string(),
  finishReason: z.enum(['eos', 'stop', 'length', 'cancelled', 'error']),
  text: z.string(),
  tokens: z.array(z.number().int()),
  exits: z.array(z.number().int()),
  promptTokens: z.number().int().nonnegative(),
  prefillMs: z.number().nonnegative(),
  decodeTokensPerSecond: z.number().nonnegative(),
  /** Exact mode: tokens drafted at the shallow exit, and how many the full model accepted. */
  drafted: z.number().int().nonnegative().optional(),
  accepted: z.number().int().nonnegative().optional(),
  error: z.string().optional(),
})
export type GenerationDone = z.infer<typeof GenerationDone>

const GenerationRef = z.object({ generationId: z.string().min(1) }).strict()

export const engineMethods = {
  /** Loads a Hugging Face model folder into the engine (replacing the loaded one); progress as engine.status events. */
  'engine.load': { request: z.object({ path: z.string().min(1), weights: WeightsRequest.optional(), adapter: AdapterRequest.optional() }).strict(), response: EngineStatus },
  'engine.unload': { request: Empty, response: EngineStatus },
  'engine.status': { request: Empty, response: EngineStatus },
  /** Starts generating; tokens arrive as generation.token events, the end as generation.done. */
  'engine.generate': { request: GenerateRequest, response: z.object({ generationId: z.string() }) },
  /** Changes the exit of a running generation from its next token on. */
  'engine.setExit': { request: GenerationRef.extend({ exit: z.number().int().positive() }).strict(), response: z.object({}) },
  'engine.cancel': { request: GenerationRef, response: z.object({}) },
} as const

export const engineEvents = {
  'engine.status': EngineStatus,
  'generation.token': GenerationToken,
  'generation.done': GenerationDone,
} as const
