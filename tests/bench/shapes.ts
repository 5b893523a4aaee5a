/** The realistic small model the decode and train benchmarks share, with fast seeded random weights. */
import type { LayerWeights, ModelConfig, ModelWeights } from '../../src-main/engine/model/types'

export interface BenchShape {
  layers: number
  d: number
  heads: number
  kvHeads: number
  ffn: number
  vocab: number
}

export function benchConfig(shape: BenchShape): ModelConfig {
  return {
    architecture: 'llama',
    hfArchitecture: 'LlamaForCausalLM',
    vocabSize: shape.vocab,
    hiddenSize: shape.d,
    intermediateSize: shape.ffn,
    numLayers: shape.layers,
    numHeads: shape.heads,
    numKvHeads: shape.kvHeads,
    headDim: shape.d / shape.heads,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    ropeScaling: undefined,
    maxPositionEmbeddings: 4096,
    tieWordEmbeddings: false,
    attentionBias: false,
    qkNorm: false,
    bosTokenId: 1,
    eosTokenIds: [],
    raw: {},
  }
}

/** An LCG is plenty for benchmark weights and fills a gigabyte in seconds. */
export function randomFiller(seed: number): (n: number, scale: number) => Float32Array {
  let state = seed >>> 0
  return (n, scale) => {
    const out = new Float32Array(n)
    for (let i = 0; i < n; i++) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0
      out[i] = (state / 4294967296 - 0.5) * 2 * scale
    }
    return out
  }
}

export function benchWeights(config: ModelConfig, fill: (n: number, scale: number) => Float32Array): ModelWeights {
  const { hiddenSize: d, numHeads: H, numKvHeads: Hkv, headDim: D, intermediateSize: F, vocabSize: V } = config
  const m = (rows: number, cols: number) => fill(rows * cols, 1 / Math.sqrt(cols))
  const layers: LayerWeights[] = Array.from({ length: config.numLayers }, () => ({
    attnNorm: new Float32Array(d).fill(1),
    q: m(H * D, d),
    k: m(Hkv * D, d),
    v: m(Hkv * D, d),
    o: m(d, H * D),
    mlpNorm: new Float32Array(d).fill(1),
    gate: m(F, d),
    up: m(F, d),
    down: m(d, F),
  }))
  return { embed: m(V, d), layers, norm: new Float32Array(d).fill(1), lmHead: m(V, d) }
}
