/**
 * Dynamic-depth inference graphs: one `outer` graph (token embedding, and the
 * final norm + LM head usable at any exit) and one graph per layer with its
 * KV cache in and out. Depth is chosen at run time by how many layer graphs
 * run. Weights are initializers of exactly one graph each, so they exist once
 * (a tied embedding is read by both paths of the same `outer` graph).
 *
 * Tensor names (the runtime relies on them):
 *   outer:  in  ids [1, t] int64, hidden [1, s, d]
 *           out embedded [1, t, d], logits [1, s, vocab]
 *   layer:  in  hidden [1, t, d], past_k / past_v [1, kvHeads, p, D], cos / sin [t, D]
 *           out hidden_out [1, t, d], present_k / present_v [1, kvHeads, p+t, D]
 */
import { Graph, type Tensor } from '../onnx/graph'
import { reshape } from '../onnx/ops/basic'
import { gather } from '../onnx/ops/indexing'
import { flatten, gemm } from '../onnx/ops/matmul'
import { unsqueeze } from '../onnx/ops/shape'
import { decoderLayer, rmsNorm, type BlockWeights, type KvCache } from './layers'
import type { LayerWeights, ModelConfig, ModelWeights } from './types'

/** Row-major [rows, cols] → [cols, rows]. */
export function transposeMatrix(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length)
  for (let r = 0; r < rows; r++) {
    const row = r * cols
    for (let c = 0; c < cols; c++) out[c * rows + r] = data[row + c]!
  }
  return out
}

function weightConstant(g: Graph, name: string, data: Float32Array, shape: number[]): Tensor {
  return g.constant(data, 'float32', shape, name)
}

/** A Linear weight, HF layout [out, in], as the [in, out] matrix x·W expects. */
function linearWeight(g: Graph, name: string, data: Float32Array, outDim: number, inDim: number): Tensor {
  return weightConstant(g, name, transposeMatrix(data, outDim, inDim), [inDim, outDim])
}

export function buildOuterGraph(config: ModelConfig, weights: ModelWeights): Graph {
  const { vocabSize: V, hiddenSize: d } = config
  const g = new Graph('outer')
  const ids = g.input('ids', 'int64', [1, 't'])
  const hidden = g.input('hidden', 'float32', [1, 's', d])
  const embedding = weightConstant(g, 'embed_tokens', weights.embed, [V, d])
  g.output(gather(embedding, ids), 'embedded')
  const normed = rmsNorm(hidden, weightConstant(g, 'norm', weights.norm, [d]), config.rmsNormEps)
  // logits = normed · Eᵀ with E [vocab, d] read in place by Gemm's transB.
  const head = weights.lmHead ? weightConstant(g, 'lm_head', weights.lmHead, [V, d]) : embedding
  const logits = gemm(flatten(normed, 2), head, { transA: false, transB: true })
  g.output(unsqueeze(logits, [0]), 'logits')
  return g
}

function layerWeights(g: Graph, config: ModelConfig, w: LayerWeights): BlockWeights {
  const { hiddenSize: d, numHeads: H, numKvHeads: Hkv, headDim: D, intermediateSize: F } = config
  const vector = (name: string, data: Float32Array | undefined, n: number) => (data ? weightConstant(g, name, data, [n]) : undefined)
  const block: BlockWeights = {
    attnNorm: weightConstant(g, 'input_layernorm', w.attnNorm, [d]),
    q: linearWeight(g, 'q_proj', w.q, H * D, d),
    k: linearWeight(g, 'k_proj', w.k, Hkv * D, d),
    v: linearWeight(g, 'v_proj', w.v, Hkv * D, d),
    o: linearWeight(g, 'o_proj', w.o, d, H * D),
    mlpNorm: weightConstant(g, 'post_attention_layernorm', w.mlpNorm, [d]),
    gate: linearWeight(g, 'gate_proj', w.gate, F, d),
    up: linearWeight(g, 'up_proj', w.up, F, d),
    down: linearWeight(g, 'down_proj', w.down, d, F),
  }
  const optional = {
    qBias: vector('q_proj.bias', w.qBias, H * D),
    kBias: vector('k_proj.bias', w.kBias, Hkv * D),
    vBias: vector('v_proj.bias', w.vBias, Hkv * D),
    qNorm: vector('q_norm', w.qNorm, D),
    kNorm: vector('k_norm', w.kNorm, D),
  }
  for (const [key, value] of Object.entries(optional)) if (value) (block as unknown as Record<string, Tensor>)[key] = value
  return block
}

export function buildLayerGraph(config: ModelConfig, weights: LayerWeights, index: number): Graph {
  const { hiddenSize: d, numKvHeads: Hkv, headDim: D } = config
  const g = new Graph(`layer_${index}`)
  const hidden = g.input('hidden', 'float32', [1, 't', d])
  const past: KvCache = { k: g.input('past_k', 'float32', [1, Hkv, 'p', D]), v: g.input('past_v', 'float32', [1, Hkv, 'p', D]) }
  const cos = g.input('cos', 'float32', ['t', D])
  const sin = g.input('sin', 'float32', ['t', D])
  const blockConfig = { heads: config.numHeads, kvHeads: Hkv, headDim: D, rmsNormEps: config.rmsNormEps }
  const out = decoderLayer(hidden, layerWeights(g, config, weights), blockConfig, cos, sin, past)
  g.output(out.hidden, 'hidden_out')
  g.output(out.present.k, 'present_k')
  g.output(out.present.v, 'present_v')
  return g
}

/**
 * The first `depth` layers, embedding and head as ONE graph: the baseline the
 * decode benchmark compares the per-layer graphs with (`split_overhead`).
 * Inputs ids, cos, sin, past_k_i / past_v_i; outputs logits, present_k_i / present_v_i.
 */
export function buildMonolithicGraph(config: ModelConfig, weights: ModelWeights, depth: number): Graph {
  const { vocabSize: V, hiddenSize: d, numKvHeads: Hkv, headDim: D } = config
  const g = new Graph(`monolithic_${depth}`)
  const ids = g.input('ids', 'int64', [1, 't'])
  const cos = g.input('cos', 'float32', ['t', D])
  const sin = g.input('sin', 'float32', ['t', D])
  const embedding = weightConstant(g, 'embed_tokens', weights.embed, [V, d])
  let hidden = gather(embedding, ids)
  const blockConfig = { heads: config.numHeads, kvHeads: Hkv, headDim: D, rmsNormEps: config.rmsNormEps }
  for (let i = 0; i < depth; i++) {
    const past = { k: g.input(`past_k_${i}`, 'float32', [1, Hkv, 'p', D]), v: g.input(`past_v_${i}`, 'float32', [1, Hkv, 'p', D]) }
    const out = g.scope(`layer_${i}`, () => decoderLayer(hidden, layerWeights(g, config, weights.layers[i]!), blockConfig, cos, sin, past))
    hidden = out.hidden
    g.output(out.present.k, `present_k_${i}`)
    g.output(out.present.v, `present_v_${i}`)
  }
  const normed = rmsNorm(hidden, weightConstant(g, 'norm', weights.norm, [d]), config.rmsNormEps)
  const head = weights.lmHead ? weightConstant(g, 'lm_head', weights.lmHead, [V, d]) : embedding
  g.output(reshape(gemm(flatten(normed, 2), head, { transA: false, transB: true }), [1, 't', V], ids), 'logits')
  return g
}
