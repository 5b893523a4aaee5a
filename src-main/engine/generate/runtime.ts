/**
 * A model loaded for dynamic-depth inference: the `outer` session (embedding
 * and head) and one session per layer (engine/model/graphs.ts). It runs
 * single graphs; the sequence state that decides what to run lives in
 * sequence.ts. Every graph holds its weights in the model's weight format
 * (model/weight-format.ts); what runs them does not depend on it.
 */
import type { ExecutionProviderPreference } from '../onnx/providers'
import { CompiledGraphCache } from '../onnx/cache'
import { contribOpSupported, settleProvider } from '../onnx/contrib'
import type { Graph } from '../onnx/graph'
import { matmulNBitsProbe } from '../onnx/ops/contrib'
import { toModelProto } from '../onnx/serialize'
import { loadSession, ort, tensor, type LoadedSession, type ProviderId, type SessionOptions } from '../onnx/session'
import { buildLayerGraph, buildOuterGraph } from '../model/graphs'
import type { ModelConfig, ModelWeights } from '../model/types'
import { describeFormat, FP32_WEIGHTS, formatTag, isQuantized, weightFormat, type WeightFormat } from '../model/weight-format'

export interface RuntimeOptions {
  provider?: ExecutionProviderPreference
  intraOpThreads?: number
  /** Folder for optimised graphs (cache.ts); none: optimise at every load. */
  cacheDir?: string
  log?: (message: string) => void
  onProgress?: (fraction: number, message: string) => void
  /**
   * The caller hands `weights` over: each graph's arrays are let go as soon as
   * ONNX Runtime holds its copy, so the load never holds both copies of the
   * whole model. The arrays are emptied; only for a caller that drops them.
   */
  consumeWeights?: boolean
  /** Weight precision and block size; default fp32. */
  weights?: Parameters<typeof weightFormat>[0]
}

export interface LayerResult {
  /** [1, n, d] */
  hidden: Float32Array
  presentK: ort.Tensor
  presentV: ort.Tensor
}

/**
 * The format the graphs will hold: `requested`, or fp32 when the provider the
 * model lands on cannot run MatMulNBits (a contrib op, so probed there first).
 * Pins `sessionOptions.provider` to that provider when it had to settle it.
 */
async function usableFormat(
  requested: WeightFormat,
  sessionOptions: SessionOptions & { provider: ExecutionProviderPreference },
): Promise<{ format: WeightFormat; weightsFallbackReason: string | undefined; providerFallback: string | undefined }> {
  if (!isQuantized(requested)) return { format: requested, weightsFallbackReason: undefined, providerFallback: undefined }
  const settled = await settleProvider(sessionOptions)
  sessionOptions.provider = settled.provider
  if (await contribOpSupported(matmulNBitsProbe, settled.provider)) return { format: requested, weightsFallbackReason: undefined, providerFallback: settled.fallbackReason }
  const reason = `${requested.precision} weights need ONNX Runtime's MatMulNBits, which the ${settled.provider} provider does not run: loaded in fp32`
  sessionOptions.log?.(reason)
  return { format: FP32_WEIGHTS, weightsFallbackReason: reason, providerFallback: settled.fallbackReason }
}

/** A precision asked for that a pre-quantized (GPTQ/AWQ) checkpoint cannot be loaded in. */
export class PrequantizedPrecisionError extends Error {
  constructor(
    readonly method: 'gptq' | 'awq',
    readonly requested: string,
  ) {
    super(`the model holds ${method.toUpperCase()} 4-bit weights, so it loads as int4 only, not ${requested}`)
    this.name = 'PrequantizedPrecisionError'
  }
}

/**
 * The format asked for: the request as given, except that a pre-quantized
 * checkpoint runs in its own packing (int4) and refuses any other precision.
 */
export function requestedFormat(prequantized: ModelWeights['prequantized'], request: RuntimeOptions['weights']): WeightFormat {
  if (!prequantized) return weightFormat(request)
  if (request && request.precision !== 'int4') throw new PrequantizedPrecisionError(prequantized, request.precision)
  return weightFormat({ ...request, precision: 'int4' })
}

/** What is left of a layer handed over to ONNX Runtime. */
function consumedLayer(): ModelWeights['layers'][number] {
  const none = new Float32Array(0)
  return { attnNorm: none, q: none, k: none, v: none, o: none, mlpNorm: none, gate: none, up: none, down: none }
}

/** True when some Linear (or the LM head) is already packed (a GPTQ/AWQ checkpoint, or quantized while the folder was read). */
function hasPackedLayers(weights: ModelWeights): boolean {
  return weights.lmHeadPacked !== undefined || weights.layers.some((layer) => layer.prequantized !== undefined && Object.keys(layer.prequantized).length > 0)
}

export class DynamicDepthRuntime {
  private constructor(
    readonly config: ModelConfig,
    private readonly outer: ort.InferenceSession,
    private readonly layers: ort.InferenceSession[],
    readonly provider: ProviderId,
    readonly fallbackReason: string | undefined,
    /** The format the graphs hold: the one asked for, or fp32 when the provider cannot run it. */
    readonly weights: WeightFormat,
    /** Why the weights are not in the format asked for; undefined when they are. */
    readonly weightsFallbackReason: string | undefined,
  ) {}

  /**
   * Compiles and loads every graph. The weights end up inside ONNX Runtime;
   * callers can drop their own copy afterwards.
   */
  static async load(config: ModelConfig, weights: ModelWeights, options: RuntimeOptions = {}): Promise<DynamicDepthRuntime> {
    const cache = options.cacheDir ? new CompiledGraphCache(options.cacheDir, options.log) : undefined
    const sessionOptions: SessionOptions & { provider: ExecutionProviderPreference } = {
      provider: options.provider ?? 'cpu',
      // One session per layer runs in turn: with ONNX Runtime's CPU arena each
      // would keep its own peak (a long prompt's attention buffers) for good,
      // L + 1 times over. Without it, memory goes back after every pass; decoding
      // is as fast (measured on the bundled model).
      memoryArena: false,
      ...(options.intraOpThreads ? { intraOpThreads: options.intraOpThreads } : {}),
      ...(options.log ? { log: options.log } : {}),
    }
    const { format, weightsFallbackReason, providerFallback } = await usableFormat(requestedFormat(weights.prequantized, options.weights), sessionOptions)
    // Packed weights have no float copy to fall back to.
    const packed = hasPackedLayers(weights)
    if (packed && weightsFallbackReason) throw new Error(`${weights.prequantized?.toUpperCase() ?? 'quantized'} model: ${weightsFallbackReason.replace(/: loaded in fp32$/, '')}; it cannot run on this provider`)
    const label = isQuantized(format) ? ` (${format.precision})` : ''
    const progress = options.onProgress ?? (() => {})
    /** Loads one graph; a quantized one is built (quantizing its weights) only when the cache has no copy. */
    const load = (what: string, fraction: number, graphIn: (format: WeightFormat) => Graph): Promise<LoadedSession> => {
      progress(fraction, `Compiling ${what}${label}`)
      if (!isQuantized(format)) {
        const bytes = toModelProto(graphIn(format))
        return cache ? cache.load(bytes, sessionOptions) : loadSession(bytes, sessionOptions)
      }
      const quantized = () => {
        progress(fraction, `Quantizing ${what} to ${describeFormat(format)}`)
        return toModelProto(graphIn(format))
      }
      if (!cache) return loadSession(quantized(), sessionOptions)
      // Packed weights (pre-quantized, or quantized while reading) have no fp32 graph: the packed graph is its own key.
      if (packed) return cache.load(quantized(), sessionOptions)
      // Keyed by the fp32 graph (which shows any change to the weights or the graph code) plus the format.
      return cache.load(toModelProto(graphIn(FP32_WEIGHTS)), sessionOptions, { tag: formatTag(format), build: quantized })
    }
    const total = config.numLayers + 1
    const outer = await load('embedding and head', 0, (f) => buildOuterGraph(config, weights, f))
    if (options.consumeWeights) {
      weights.embed = new Float32Array(0)
      weights.lmHead = undefined
      delete weights.lmHeadPacked
    }
    // Every layer runs where the first graph settled: no per-layer retries of a missing provider.
    sessionOptions.provider = outer.provider
    const layers: ort.InferenceSession[] = []
    for (let i = 0; i < config.numLayers; i++) {
      layers.push((await load(`layer ${i + 1} of ${config.numLayers}`, (i + 1) / total, (f) => buildLayerGraph(config, weights.layers[i]!, i, f))).session)
      if (options.consumeWeights) weights.layers[i] = consumedLayer()
    }
    progress(1, 'Ready')
    const fallbackReason = providerFallback ?? outer.fallbackReason
    return new DynamicDepthRuntime(config, outer.session, layers, outer.provider, fallbackReason, format, weightsFallbackReason)
  }

  get numLayers(): number {
    return this.layers.length
  }

  private emptyHidden(): ort.Tensor {
    return tensor('float32', new Float32Array(0), [1, 0, this.config.hiddenSize])
  }

  /** Token embeddings [1, n, d]. */
  async embed(ids: readonly number[]): Promise<Float32Array> {
    const out = await this.outer.run(
      { ids: tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]), hidden: this.emptyHidden() },
      ['embedded'],
    )
    return out.embedded!.data as Float32Array
  }

  /** Logits [n, vocab] of hidden states [1, n, d] (final norm + LM head, any exit). */
  async head(hidden: Float32Array): Promise<Float32Array> {
    const n = hidden.length / this.config.hiddenSize
    const out = await this.outer.run(
      { ids: tensor('int64', new BigInt64Array(0), [1, 0]), hidden: tensor('float32', hidden, [1, n, this.config.hiddenSize]) },
      ['logits'],
    )
    return out.logits!.data as Float32Array
  }

  /** Runs layer `index` on n new positions after the cached ones. */
  async layer(index: number, hidden: Float32Array, pastK: ort.Tensor, pastV: ort.Tensor, cos: Float32Array, sin: Float32Array): Promise<LayerResult> {
    const n = hidden.length / this.config.hiddenSize
    const D = this.config.headDim
    const out = await this.layers[index]!.run({
      hidden: tensor('float32', hidden, [1, n, this.config.hiddenSize]),
      past_k: pastK,
      past_v: pastV,
      cos: tensor('float32', cos, [n, D]),
      sin: tensor('float32', sin, [n, D]),
    })
    return { hidden: out.hidden_out!.data as Float32Array, presentK: out.present_k!, presentV: out.present_v! }
  }

  emptyCache(): ort.Tensor {
    return tensor('float32', new Float32Array(0), [1, this.config.numKvHeads, 0, this.config.headDim])
  }

  async release(): Promise<void> {
    await Promise.all([this.outer.release(), ...this.layers.map((s) => s.release())])
  }
}
