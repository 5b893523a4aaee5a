/**
 * A model folder made ready to generate: weights compiled into the
 * dynamic-depth runtime, tokenizer and chat template loaded, exits known.
 * The CLI uses it directly; the app uses it inside the engine worker.
 */
import { basename } from 'node:path'
import { loadModelFolder } from '../model/import'
import type { ModelConfig, ModelWeights } from '../model/types'
import { weightsInfo, type WeightsInfo } from '../model/weight-format'
import { chatFormatterFor, type ChatFormatter } from '../tokenizer/chat-template'
import { createDecodeStream, loadTokenizer, type TextTokenizer } from '../tokenizer/tokenizer'
import { checkPromptFits, checkTokenIds, contextLength, newTokenBudget } from './context'
import { generate, type GenerateResult, type GeneratedToken } from './generate'
import { promptIds, type PromptInput } from './prompt'
import type { SamplingOptions } from './sampling'
import { DynamicDepthRuntime, type RuntimeOptions } from './runtime'
import { DynamicSequence } from './sequence'

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
}

export interface SessionGenerateOptions {
  input: PromptInput
  maxNewTokens: number
  /** Exit per new token index; read before every token. */
  exitAt: (index: number) => number
  sampling?: SamplingOptions
  stopStrings?: readonly string[]
  onToken?: (token: GeneratedToken) => void
  signal?: AbortSignal
}

export class ModelSession {
  private constructor(
    readonly info: ModelInfo,
    readonly config: ModelConfig,
    readonly runtime: DynamicDepthRuntime,
    readonly tokenizer: TextTokenizer | undefined,
    readonly formatter: ChatFormatter | undefined,
  ) {}

  /** `adapt` changes the loaded weights before anything is compiled (a LoRA adapter merged in: cli/adapter.ts). */
  static async open(dir: string, options: RuntimeOptions = {}, adapt?: (config: ModelConfig, weights: ModelWeights) => ModelWeights): Promise<ModelSession> {
    const progress = options.onProgress
    const model = loadModelFolder(dir, (f, message) => progress?.(f * 0.3, message))
    const tokenizer = loadTokenizer(dir)
    const formatter = chatFormatterFor(dir, tokenizer)
    const runtime = await DynamicDepthRuntime.load(model.config, adapt ? adapt(model.config, model.weights) : model.weights, {
      ...options,
      onProgress: (f, message) => progress?.(0.3 + f * 0.7, message),
    })
    const L = model.config.numLayers
    const info: ModelInfo = {
      path: dir,
      name: basename(dir),
      architecture: model.config.hfArchitecture,
      numLayers: L,
      contextLength: contextLength(model.config),
      exits: model.sorted?.exits ?? Array.from({ length: L }, (_, i) => i + 1),
      hasTokenizer: tokenizer !== undefined,
      hasChatTemplate: formatter !== undefined,
      provider: runtime.provider,
      fallbackReason: runtime.fallbackReason,
      weights: weightsInfo(runtime.weights),
      weightsFallbackReason: runtime.weightsFallbackReason,
    }
    return new ModelSession(info, model.config, runtime, tokenizer, formatter)
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
