/**
 * A model folder made ready to generate: weights compiled into the
 * dynamic-depth runtime, tokenizer and chat template loaded, exits known.
 * The CLI uses it directly; the app uses it inside the engine worker.
 */
import { basename } from 'node:path'
import { AdapterError } from '../model/peft-adapter'
import { freemem } from 'node:os'
import { inspectModelFolder, loadModelFolder, openModelFolder } from '../model/import'
import type { ModelConfig, ModelWeights } from '../model/types'
import { isQuantized, weightsInfo, type WeightsInfo } from '../model/weight-format'
import { chatFormatterFor, type ChatFormatter } from '../tokenizer/chat-template'
import { createDecodeStream, loadTokenizer, type TextTokenizer } from '../tokenizer/tokenizer'
import { checkPromptFits, checkTokenIds, contextLength, newTokenBudget } from './context'
import { generate, type Depth, type GenerateResult, type GeneratedToken } from './generate'
import { promptIds, type PromptInput } from './prompt'
import type { SamplingOptions } from './sampling'
import { checkMemory } from './memory-estimate'
import { ModelGraphCache } from './model-graph-cache'
import { DynamicDepthRuntime, requestedFormat, settleTarget, type RuntimeOptions, type RuntimeTarget } from './runtime'
import { DynamicSequence } from './sequence'
import type { SpeculativeOptions } from './speculative'
import { decodingModesFor, type DecodingMode } from './modes'

export interface ModelInfo {
  path: string
  name: string
  architecture: string
  numLayers: number
  /** The longest sequence (prompt and answer) it takes, in tokens. */
  contextLength: number
  /** Exits offered to the user: sorted.json's, else every layer count. */
  exits: number[]
  hasTokenizer: boolean
  hasChatTemplate: boolean
  provider: string
  fallbackReason: string | undefined
  /** The weight precision the model runs in, and why it is not the one asked for. */
  weights: WeightsInfo
  weightsFallbackReason: string | undefined
  /** Decoding modes beside a fixed exit that this model offers. */
  modes: DecodingMode[]
}

export interface SessionGenerateOptions {
  input: PromptInput
  maxNewTokens: number
  /** Depth per new token index (a layer count or 'exact'); read before every token. */
  exitAt: (index: number) => Depth
  /** How Exact drafts (default: draftExitFor's exit, 'auto' draft tokens). */
  speculative?: Partial<SpeculativeOptions>
  sampling?: SamplingOptions
  stopStrings?: readonly string[]
  onToken?: (token: GeneratedToken) => void
  signal?: AbortSignal
}

export interface SessionOpenOptions extends RuntimeOptions {
  /** Bytes the model may use; default os.freemem() (tests inject a small budget). */
  availableMemory?: number
}

/**
 * The runtime of `dir`'s model on `target`: from the graph cache when it
 * holds the folder unchanged, else read and compiled (and kept in the cache
 * when there is one).
 */
async function loadRuntime(
  dir: string,
  config: ModelConfig,
  target: RuntimeTarget,
  options: SessionOpenOptions,
  prequantized: 'gptq' | 'awq' | undefined,
  adapt: ((config: ModelConfig, weights: ModelWeights) => ModelWeights) | undefined,
): Promise<DynamicDepthRuntime> {
  const cache = options.cacheDir && !adapt ? new ModelGraphCache(options.cacheDir, options.log) : undefined
  if (!cache) return compileFolder(dir, target, options, prequantized, adapt)
  const key = cache.key(dir, config, target, prequantized)
  const cached = cache.find(key, config.numLayers)
  if (cached) {
    try {
      return await DynamicDepthRuntime.loadCompiled(config, cached, target, options)
    } catch (error) {
      cache.discard(key, (error as Error).message.split('\n')[0]!)
    }
  }
  return cache.write(key, { folder: dir, target }, (saveGraphsIn) => compileFolder(dir, target, { ...options, saveGraphsIn }, prequantized, adapt))
}

/** Reads the folder's weights and compiles them into a runtime. */
async function compileFolder(
  dir: string,
  target: RuntimeTarget,
  options: SessionOpenOptions & { saveGraphsIn?: string },
  prequantized: 'gptq' | 'awq' | undefined,
  adapt: ((config: ModelConfig, weights: ModelWeights) => ModelWeights) | undefined,
): Promise<DynamicDepthRuntime> {
  const progress = options.onProgress
  const { format } = target
  // On the CPU (where MatMulNBits always runs) each Linear is quantized as it is read, so the
  // whole fp32 model never sits in memory; other providers may fall back to fp32, which needs it.
  // An adapter is merged into float weights, so a model given one is read whole in fp32 first;
  // a GPTQ/AWQ checkpoint is packed already.
  const quantizeOnRead = target.provider === 'cpu' && !prequantized && isQuantized(format) && format.lmHead === 'int8' && !adapt
  const readOptions = { prequantized: 'repack' as const, ...(quantizeOnRead ? { quantize: { precision: format.precision, blockSize: format.blockSize } } : {}) }
  if (adapt) {
    // The adapter is merged into the whole model's float weights, so they are read first.
    const model = loadModelFolder(dir, (f, message) => progress?.(f * 0.3, message), readOptions)
    return DynamicDepthRuntime.load(model.config, adapt(model.config, model.weights), { ...options, target, consumeWeights: true, onProgress: (f, message) => progress?.(0.3 + f * 0.7, message) })
  }
  // Each part is read right before its graph is built and let go once the graph is serialized:
  // outside ONNX Runtime, the load holds one layer (or the embedding and head) at a time.
  const reader = openModelFolder(dir, undefined, readOptions)
  try {
    return await DynamicDepthRuntime.load(reader.config, reader.weights, { ...options, target, reader: { ...reader, packs: quantizeOnRead }, consumeWeights: true })
  } finally {
    reader.close()
  }
}

export class ModelSession {
  private constructor(
    readonly info: ModelInfo,
    readonly config: ModelConfig,
    readonly runtime: DynamicDepthRuntime,
    readonly tokenizer: TextTokenizer | undefined,
    readonly formatter: ChatFormatter | undefined,
    /** sorted.json's `draft_exit`, when a calibration stored one. */
    private readonly draftExit: number | undefined,
  ) {}

  /**
   * Reads, compiles and loads the model. Before reading any weights, the
   * memory the model needs in the requested precision is estimated
   * (memory-estimate.ts) and the load refused with InsufficientMemoryError
   * when it exceeds `availableMemory` (default os.freemem()). With
   * `cacheDir`, the compiled graphs are kept there (model-graph-cache.ts) and
   * a later load of the unchanged folder reads them instead of the weights.
   * `adapt` changes the loaded weights before anything is compiled (a LoRA
   * adapter merged in: cli/adapter.ts); such a model is compiled every time.
   */
  static async open(dir: string, options: SessionOpenOptions = {}, adapt?: (config: ModelConfig, weights: ModelWeights) => ModelWeights): Promise<ModelSession> {
    const { config, sorted, prequantized } = inspectModelFolder(dir)
    const format = requestedFormat(prequantized?.method, options.weights)
    const provider = options.provider ?? 'cpu'
    if (provider === 'cpu' || provider === 'auto') {
      checkMemory(config, format.precision, format.blockSize, options.availableMemory ?? freemem(), prequantized)
    } else {
      options.log?.(`memory check skipped: the ${provider} provider holds the weights in GPU memory, whose size Node cannot read`)
    }
    if (adapt && prequantized) throw new AdapterError(`${dir}: an adapter is merged into float weights, and this folder holds ${prequantized.method.toUpperCase()} packed weights; use the float model it was quantized from.`)
    const target = await settleTarget(format, options)
    const tokenizer = loadTokenizer(dir)
    const formatter = chatFormatterFor(dir, tokenizer)
    const runtime = await loadRuntime(dir, config, target, options, prequantized?.method, adapt)
    const L = config.numLayers
    const info: ModelInfo = {
      path: dir,
      name: basename(dir),
      architecture: config.hfArchitecture,
      numLayers: L,
      contextLength: contextLength(config),
      exits: sorted?.exits ?? Array.from({ length: L }, (_, i) => i + 1),
      hasTokenizer: tokenizer !== undefined,
      hasChatTemplate: formatter !== undefined,
      provider: runtime.provider,
      fallbackReason: runtime.fallbackReason,
      weights: weightsInfo(runtime.weights),
      weightsFallbackReason: runtime.weightsFallbackReason,
      modes: decodingModesFor(L),
    }
    const draftExit = sorted?.['draft_exit']
    return new ModelSession(info, config, runtime, tokenizer, formatter, Number.isInteger(draftExit) ? (draftExit as number) : undefined)
  }

  /**
   * The exit Exact drafts with when none is named: sorted.json's calibrated
   * `draft_exit` when it has one, else the offered exit nearest a quarter of
   * the depth (deep enough to agree often, shallow enough to be cheap).
   */
  get defaultDraftExit(): number {
    const L = this.info.numLayers
    const calibrated = this.draftExit
    if (calibrated !== undefined && calibrated >= 1 && calibrated < L) return calibrated
    const candidates = this.info.exits.filter((e) => e < L)
    // A one-layer model answers 1 (generate never drafts with it: nothing is below the full depth).
    if (candidates.length === 0) return Math.max(1, L - 1)
    return candidates.reduce((best, e) => (Math.abs(e - L / 4) < Math.abs(best - L / 4) ? e : best))
  }

  /** Model EOS ids plus the tokenizer's (generation_config.json, chat end-of-turn tokens). */
  get eosTokenIds(): number[] {
    return [...new Set([...this.config.eosTokenIds, ...(this.tokenizer?.eosTokenIds ?? [])])]
  }

  /**
   * The prompt ids for `input`, checked against the model: every id in the
   * vocabulary, and room in the context for at least one new token (a
   * conversation is first cut by context.ts's rule). Throws PromptError,
   * naming the limit, otherwise. `droppedMessages`: the oldest messages cut.
   */
  encode(input: PromptInput): { ids: number[]; droppedMessages: number } {
    const { ids, dropped } = promptIds(input, this.tokenizer, this.formatter, this.info.contextLength)
    checkTokenIds(ids, this.config.vocabSize)
    checkPromptFits(ids.length, this.info.contextLength)
    return { ids, droppedMessages: dropped }
  }

  async generate(options: SessionGenerateOptions): Promise<GenerateResult & { promptTokens: number; droppedMessages: number }> {
    const { ids: prompt, droppedMessages } = this.encode(options.input)
    const result = await generate({
      sequence: new DynamicSequence(this.runtime),
      prompt,
      // The answer stops where the context ends.
      maxNewTokens: newTokenBudget(prompt.length, options.maxNewTokens, this.info.contextLength),
      exitAt: options.exitAt,
      speculative: { draftExit: options.speculative?.draftExit ?? this.defaultDraftExit, draftTokens: options.speculative?.draftTokens ?? 'auto' },
      autoExits: this.info.exits,
      eosTokenIds: this.eosTokenIds,
      ...(options.sampling ? { sampling: options.sampling } : {}),
      ...(options.stopStrings ? { stopStrings: options.stopStrings } : {}),
      ...(this.tokenizer ? { detokenizer: createDecodeStream(this.tokenizer, { skipSpecialTokens: true }) } : {}),
      ...(options.onToken ? { onToken: options.onToken } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    })
    return { ...result, promptTokens: prompt.length, droppedMessages }
  }

  release(): Promise<void> {
    return this.runtime.release()
  }
}
