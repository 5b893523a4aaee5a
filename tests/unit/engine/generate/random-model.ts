/** Tiny random LLaMA-family models in memory, for engine tests. */
import type { Architecture, LayerWeights, ModelConfig, ModelWeights } from '../../../../src-main/engine/model/types'
import { random } from '../onnx/gradcheck'

export interface TinyShape {
  architecture?: Architecture
  layers?: number
  hidden?: number
  heads?: number
  kvHeads?: number
  headDim?: number
  intermediate?: number
  vocab?: number
  tied?: boolean
  seed?: number
}

export function tinyConfig(shape: TinyShape = {}): ModelConfig {
  const architecture = shape.architecture ?? 'llama'
  const hidden = shape.hidden ?? 16
  const heads = shape.heads ?? 4
  return {
    architecture,
    hfArchitecture: { llama: 'LlamaForCausalLM', mistral: 'MistralForCausalLM', qwen2: 'Qwen2ForCausalLM', qwen3: 'Qwen3ForCausalLM' }[architecture],
    vocabSize: shape.vocab ?? 50,
    hiddenSize: hidden,
    intermediateSize: shape.intermediate ?? 24,
    numLayers: shape.layers ?? 4,
    numHeads: heads,
    numKvHeads: shape.kvHeads ?? 2,
    headDim: shape.headDim ?? hidden / heads,
    rmsNormEps: 1e-6,
    ropeTheta: 10000,
    ropeScaling: undefined,
    maxPositionEmbeddings: 2048,
    tieWordEmbeddings: shape.tied ?? false,
    attentionBias: architecture === 'qwen2',
    qkNorm: architecture === 'qwen3',
    bosTokenId: 1,
    eosTokenIds: [2],
    raw: {},
  }
}

export function tinyWeights(config: ModelConfig, seed = 1): ModelWeights {
  const r = random(seed)
  const { hiddenSize: d, numHeads: H, numKvHeads: Hkv, headDim: D, intermediateSize: F, vocabSize: V } = config
  const matrix = (rows: number, cols: number) => {
    const scale = 1.5 / Math.sqrt(cols)
    return Float32Array.from({ length: rows * cols }, () => (r() * 2 - 1) * scale)
  }
  const norm = (n: number) => Float32Array.from({ length: n }, () => 0.8 + 0.4 * r())
  const layers: LayerWeights[] = Array.from({ length: config.numLayers }, () => {
    const layer: LayerWeights = {
      attnNorm: norm(d),
      q: matrix(H * D, d),
      k: matrix(Hkv * D, d),
      v: matrix(Hkv * D, d),
      o: matrix(d, H * D),
      mlpNorm: norm(d),
      gate: matrix(F, d),
      up: matrix(F, d),
      down: matrix(d, F),
    }
    if (config.attentionBias) {
      layer.qBias = matrix(1, H * D)
      layer.kBias = matrix(1, Hkv * D)
      layer.vBias = matrix(1, Hkv * D)
    }
    if (config.qkNorm) {
      layer.qNorm = norm(D)
      layer.kNorm = norm(D)
    }
    return layer
  })
  return { embed: matrix(V, d).map((x) => x * 2), layers, norm: norm(d), lmHead: config.tieWordEmbeddings ? undefined : matrix(V, d) }
}
