/**
 * A model loaded for dynamic-depth inference: the `outer` session (embedding
 * and head) and one session per layer (engine/model/graphs.ts). It runs
 * single graphs; the sequence state that decides what to run lives in
 * sequence.ts.
 */
import type { ExecutionProviderPreference } from '../onnx/providers'
import { CompiledGraphCache } from '../onnx/cache'
import type { Graph } from '../onnx/graph'
import { toModelProto } from '../onnx/serialize'
import { loadSession, ort, tensor, type LoadedSession, type ProviderId } from '../onnx/session'
import { buildLayerGraph, buildOuterGraph } from '../model/graphs'
import type { ModelConfig, ModelWeights } from '../model/types'

export interface RuntimeOptions {
  provider?: ExecutionProviderPreference
  intraOpThreads?: number
  /** Folder for optimised graphs (cache.ts); none: optimise at every load. */
  cacheDir?: string
  log?: (message: string) => void
  onProgress?: (fraction: number, message: string) => void
}

export interface LayerResult {
  /** [1, n, d] */
  hidden: Float32Array
  presentK: ort.Tensor
  presentV: ort.Tensor
}

export class DynamicDepthRuntime {
  private constructor(
    readonly config: ModelConfig,
    private readonly outer: ort.InferenceSession,
    private readonly layers: ort.InferenceSession[],
    readonly provider: ProviderId,
    readonly fallbackReason: string | undefined,
  ) {}

  /**
   * Compiles and loads every graph. The weights end up inside ONNX Runtime;
   * callers can drop their own copy afterwards.
   */
  static async load(config: ModelConfig, weights: ModelWeights, options: RuntimeOptions = {}): Promise<DynamicDepthRuntime> {
    const cache = options.cacheDir ? new CompiledGraphCache(options.cacheDir, options.log) : undefined
    const sessionOptions: { provider: ExecutionProviderPreference; memoryArena: boolean; intraOpThreads?: number; log?: (m: string) => void } = {
      provider: options.provider ?? 'cpu',
      // One session per layer runs in turn: with ONNX Runtime's CPU arena each
      // would keep its own peak (a long prompt's attention buffers) for good,
      // L + 1 times over. Without it, memory goes back after every pass; decoding
      // is as fast (measured on the bundled model).
      memoryArena: false,
      ...(options.intraOpThreads ? { intraOpThreads: options.intraOpThreads } : {}),
      ...(options.log ? { log: options.log } : {}),
    }
    const load = (graph: Graph): Promise<LoadedSession> => {
      const bytes = toModelProto(graph)
      return cache ? cache.load(bytes, sessionOptions) : loadSession(bytes, sessionOptions)
    }
    const total = config.numLayers + 1
    options.onProgress?.(0, 'Compiling embedding and head')
    const outer = await load(buildOuterGraph(config, weights))
    // Every layer runs where the first graph settled: no per-layer retries of a missing provider.
    sessionOptions.provider = outer.provider
    const layers: ort.InferenceSession[] = []
    for (let i = 0; i < config.numLayers; i++) {
      options.onProgress?.((i + 1) / total, `Compiling layer ${i + 1} of ${config.numLayers}`)
      layers.push((await load(buildLayerGraph(config, weights.layers[i]!, i))).session)
    }
    options.onProgress?.(1, 'Ready')
    return new DynamicDepthRuntime(config, outer.session, layers, outer.provider, outer.fallbackReason)
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
