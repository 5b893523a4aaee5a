/**
 * A model loaded for dynamic-depth inference: the `outer` session (embedding
 * and head) and one session per layer (engine/model/graphs.ts). It runs
 * single graphs; the sequence state that decides what to run lives in
 * sequence.ts. Every graph holds its weights in the model's weight format
 * (model/weight-format.ts); what runs them does not depend on it.
 */
import { rmSync } from 'node:fs'
import { collectGarbage } from '../../base/collect-garbage'
import { join } from 'node:path'
import type { ExecutionProviderPreference } from '../onnx/providers'
import { contribOpSupported, settleProvider } from '../onnx/contrib'
import type { Graph } from '../onnx/graph'
import { matmulNBitsProbe } from '../onnx/ops/contrib'
import { toModelProto, writeModelFile } from '../onnx/serialize'
import { loadSession, ort, tensor, type LoadedSession, type ProviderId, type SessionOptions } from '../onnx/session'
import { buildLayerGraph, buildOuterGraph } from '../model/graphs'
import type { ModelConfig, ModelWeights } from '../model/types'
import { describeFormat, FP32_WEIGHTS, isQuantized, weightFormat, type WeightFormat } from '../model/weight-format'

export interface RuntimeOptions {
  provider?: ExecutionProviderPreference
  intraOpThreads?: number
  /** Folder for compiled graphs (model-graph-cache.ts, used by ModelSession); none: compile at every load. */
  cacheDir?: string
  log?: (message: string) => void
  onProgress?: (fraction: number, message: string) => void
  /**
   * The caller hands `weights` over: each graph's arrays are let go as soon as
   * the graph is serialized (before ONNX Runtime reads it), so the load never
   * holds two copies of the whole model. The arrays are emptied; only for a
   * caller that drops them.
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

/** Where a model will run and in what weight format: settled before anything is read. */
export interface RuntimeTarget {
  provider: ProviderId
  /** The format the graphs will hold: the one asked for, or fp32 when the provider cannot run MatMulNBits. */
  format: WeightFormat
  /** Why the provider is not the one asked for; undefined when it is. */
  providerFallback: string | undefined
  /** Why the weights are not in the format asked for; undefined when they are. */
  weightsFallbackReason: string | undefined
}

/**
 * Settles the provider (probing it when it is not the CPU) and the format the
 * graphs will hold there: `requested`, or fp32 when that provider cannot run
 * MatMulNBits (a contrib op, so probed there first).
 */
export async function settleTarget(requested: WeightFormat, options: Pick<RuntimeOptions, 'provider' | 'log'> = {}): Promise<RuntimeTarget> {
  const settled = await settleProvider({ provider: options.provider ?? 'cpu', ...(options.log ? { log: options.log } : {}) })
  const base = { provider: settled.provider, providerFallback: settled.fallbackReason }
  if (!isQuantized(requested) || (await contribOpSupported(matmulNBitsProbe, settled.provider))) return { ...base, format: requested, weightsFallbackReason: undefined }
  const reason = `${requested.precision} weights need ONNX Runtime's MatMulNBits, which the ${settled.provider} provider does not run: loaded in fp32`
  options.log?.(reason)
  return { ...base, format: FP32_WEIGHTS, weightsFallbackReason: reason }
}

/** The graphs of a model with `numLayers` layers, by the names their files carry in a graph folder. */
export function graphNames(numLayers: number): string[] {
  return ['outer', ...Array.from({ length: numLayers }, (_, i) => `layer_${i}`)]
}

/** A compiled graph's file in a graph folder; its large initializers lie beside it in `<name>.data`. */
export function graphFile(dir: string, name: string): { model: string; externalData: string } {
  return { model: join(dir, `${name}.onnx`), externalData: `${name}.data` }
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

/**
 * Fills the `weights` given to DynamicDepthRuntime.load part by part, right
 * before the graph that needs the part is built (model/import.ts's
 * ModelFolderReader): with consumeWeights, at most one graph's weights are
 * in memory outside ONNX Runtime at any time.
 */
export interface WeightReader {
  readOuter(): void
  readLayer(index: number): void
  /** True when the parts it reads are packed (pre-quantized, or quantized as read). */
  packs?: boolean
}

/** Session options every graph of a model runs with, pinned to the settled provider. */
function runtimeSessionOptions(options: RuntimeOptions, target: RuntimeTarget): SessionOptions {
  return {
    provider: target.provider,
    // One session per layer runs in turn: with ONNX Runtime's CPU arena each
    // would keep its own peak (a long prompt's attention buffers) for good,
    // L + 1 times over. Without it, memory goes back after every pass; decoding
    // is as fast (measured on the bundled model).
    memoryArena: false,
    ...(options.intraOpThreads ? { intraOpThreads: options.intraOpThreads } : {}),
    ...(options.log ? { log: options.log } : {}),
  }
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
   * callers can drop their own copy afterwards. With `reader`, `weights` is
   * filled part by part as the graphs are built. With `saveGraphsIn`, every
   * optimised graph is also written there (graphFile), for loadCompiled.
   */
  static async load(config: ModelConfig, weights: ModelWeights, options: RuntimeOptions & { target?: RuntimeTarget; saveGraphsIn?: string; reader?: WeightReader } = {}): Promise<DynamicDepthRuntime> {
    const target = options.target ?? (await settleTarget(requestedFormat(weights.prequantized, options.weights), options))
    const { format } = target
    // Packed weights have no float copy to fall back to (with a reader, packing happens as parts are read).
    if ((hasPackedLayers(weights) || weights.prequantized !== undefined || (options.reader?.packs ?? false)) && target.weightsFallbackReason) {
      throw new Error(`${weights.prequantized?.toUpperCase() ?? 'quantized'} model: ${target.weightsFallbackReason.replace(/: loaded in fp32$/, '')}; it cannot run on this provider`)
    }
    const sessionOptions = runtimeSessionOptions(options, target)
    const progress = options.onProgress ?? (() => {})
    const names = graphNames(config.numLayers)
    /**
     * Builds graph `index`, lets its arrays go once they are serialized (with
     * consumeWeights) and loads it. When saving, the graph goes to disk with
     * its weights in external data and ONNX Runtime reads it from there: the
     * weights are never in memory as a serialized copy too, and a graph over
     * protobuf's 2 GB limit loads.
     */
    const load = async (index: number, what: string, build: () => Graph, consume: () => void): Promise<LoadedSession> => {
      progress(index / names.length, isQuantized(format) ? `Compiling ${what} in ${describeFormat(format)}` : `Compiling ${what}`)
      if (!options.saveGraphsIn) {
        const bytes = toModelProto(build())
        if (options.consumeWeights) consume()
        return loadSession(bytes, sessionOptions)
      }
      const saved = graphFile(options.saveGraphsIn, names[index]!)
      // The embedding and head are kept as built, and optimised at every load (a Gather, a norm and
      // one product: milliseconds). Having ONNX Runtime save its optimised copy instead holds the
      // embedding twice while it writes (1B int4's first load: 2.78 GB peak, 29 s; kept as built 2.62 GB, 24 s).
      const keptAsBuilt = index === 0
      const source = keptAsBuilt ? saved : graphFile(options.saveGraphsIn, `${names[index]!}.source`)
      writeModelFile(build(), source.model, source.externalData)
      if (options.consumeWeights) {
        consume()
        // The part's arrays (and what reading them left behind) are collected before ONNX Runtime
        // reads the file, not some parts later when V8 next would: 1B int4's first load peaked at
        // 3.9 GB without this, 3.0 GB with it. (Loading from bytes, it raised the peak: not done there.)
        collectGarbage()
      }
      if (keptAsBuilt) return loadSession(source.model, sessionOptions)
      try {
        return await loadSession(source.model, { ...sessionOptions, optimizedModelFilePath: saved.model, optimizedModelExternalData: saved.externalData })
      } finally {
        rmSync(source.model, { force: true })
        rmSync(join(options.saveGraphsIn, source.externalData), { force: true })
      }
    }
    const reader = options.reader
    const outer = await load(0, 'embedding and head', () => (reader?.readOuter(), buildOuterGraph(config, weights, format)), () => {
      weights.embed = new Float32Array(0)
      weights.lmHead = undefined
      delete weights.lmHeadPacked
    })
    const layers: ort.InferenceSession[] = []
    for (let i = 0; i < config.numLayers; i++) {
      const loaded = await load(i + 1, `layer ${i + 1} of ${config.numLayers}`, () => (reader?.readLayer(i), buildLayerGraph(config, weights.layers[i]!, i, format)), () => (weights.layers[i] = consumedLayer()))
      layers.push(loaded.session)
    }
    progress(1, 'Ready')
    return new DynamicDepthRuntime(config, outer.session, layers, target.provider, target.providerFallback ?? outer.fallbackReason, format, target.weightsFallbackReason)
  }

  /**
   * Loads graphs that `load` compiled and saved in `dir` (graphFile names),
   * without optimising the layers again (the embedding-and-head graph is kept
   * as built: see load). Throws when a file is missing or damaged; nothing is
   * kept loaded then.
   */
  static async loadCompiled(config: ModelConfig, dir: string, target: RuntimeTarget, options: RuntimeOptions = {}): Promise<DynamicDepthRuntime> {
    const sessionOptions: SessionOptions = { ...runtimeSessionOptions(options, target), optimization: 'disabled' }
    const progress = options.onProgress ?? (() => {})
    const names = graphNames(config.numLayers)
    const sessions: ort.InferenceSession[] = []
    try {
      for (const [index, name] of names.entries()) {
        progress(index / names.length, `Loading compiled ${index === 0 ? 'embedding and head' : `layer ${index} of ${config.numLayers}`}`)
        sessions.push((await loadSession(graphFile(dir, name).model, index === 0 ? { ...sessionOptions, optimization: 'all' } : sessionOptions)).session)
      }
    } catch (error) {
      await Promise.all(sessions.map((s) => s.release()))
      throw error
    }
    progress(1, 'Ready')
    const [outer, ...layers] = sessions
    return new DynamicDepthRuntime(config, outer!, layers, target.provider, target.providerFallback, target.format, target.weightsFallbackReason)
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
