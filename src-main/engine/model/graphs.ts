/**
 * Dynamic-depth inference graphs: one `outer` graph (token embedding, and the
 * final norm + LM head usable at any exit) and one graph per layer with its
 * KV cache in and out. Depth is chosen at run time by how many layer graphs
 * run. Weights are initializers of exactly one graph each, so they exist once
 * (a tied embedding is read by both paths of the same `outer` graph). Which
 * tensors there are, and which are transposed, comes from weight-map.ts;
 * initializers carry their Hugging Face names. The weight format
 * (weight-format.ts) decides which linear layers run quantized.
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
import { decoderLayer, linear, rmsNorm, type BlockWeights, type KvCache, type LinearWeight } from './layers'
import { quantizeForPrecision } from './quant/linear'
import type { QuantizedLinear } from './quant/blockwise'
import type { LayerWeights, LinearField, ModelConfig, ModelWeights } from './types'
import { FP32_WEIGHTS, isQuantized, type WeightFormat } from './weight-format'
import { LM_HEAD_NAME, layerSlots, outerSlots, slotSize, type WeightSlot } from './weight-map'

/** Row-major [rows, cols] → [cols, rows]. */
export function transposeMatrix(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length)
  for (let r = 0; r < rows; r++) {
    const row = r * cols
    for (let c = 0; c < cols; c++) out[c * rows + r] = data[row + c]!
  }
  return out
}

/** The slot's data, present and of the size its shape says. */
function checked(slot: WeightSlot, data: Float32Array | undefined): Float32Array {
  if (data === undefined) throw new Error(`the weights have no ${slot.name}`)
  if (data.length !== slotSize(slot)) throw new Error(`${slot.name} has ${data.length} values, but [${slot.shape.join(', ')}] needs ${slotSize(slot)}`)
  return data
}

/** A tensor as stored (HF layout). */
function storedConstant(g: Graph, slot: WeightSlot, data: Float32Array | undefined): Tensor {
  return g.constant(checked(slot, data), 'float32', slot.shape, slot.name)
}

/**
 * A Linear weight, HF layout [out, in], in the graph's precision: fp32
 * transposed once to the [in, out] matrix x·W expects; quantized row by row
 * as stored (MatMulNBits reads [out, in] blocks, no transpose).
 */
function linearWeight(g: Graph, slot: WeightSlot, data: Float32Array | undefined, format: WeightFormat): LinearWeight {
  const [out, inDim] = slot.shape as [number, number]
  const quantized = quantizeForPrecision(checked(slot, data), out, inDim, format)
  if (!quantized) return g.constant(transposeMatrix(data!, out, inDim), 'float32', [inDim, out], slot.name)
  return { quantized, name: slot.name, accuracyLevel: format.accuracyLevel }
}

/** A Linear already packed (a GPTQ/AWQ checkpoint, or quantized while reading): used as it is, in a graph of its precision only. */
function prequantizedWeight(slot: WeightSlot, packed: QuantizedLinear, format: WeightFormat): LinearWeight {
  const [out, inDim] = slot.shape as [number, number]
  const bits = format.precision === 'int4' ? 4 : format.precision === 'int8' ? 8 : 32
  if (packed.bits !== bits) throw new Error(`${slot.name} is stored ${packed.bits}-bit, so the model runs in int${packed.bits} only, not ${format.precision}`)
  if (packed.n !== out || packed.k !== inDim) throw new Error(`${slot.name}: packed weight is [${packed.n}, ${packed.k}], but the config implies [${out}, ${inDim}]`)
  return { quantized: packed, name: slot.name, accuracyLevel: format.accuracyLevel }
}

/** A graph that may use MatMulNBits when its weights are quantized (the caller probed the provider). */
function graphFor(name: string, format: WeightFormat): Graph {
  return new Graph(name, isQuantized(format) ? new Set(['MatMulNBits']) : new Set())
}

/** Final norm + LM head on hidden [1, s, d] → logits [s, vocab]; `embedding` is the head of a tied model. */
function headLogits(g: Graph, config: ModelConfig, weights: ModelWeights, hidden: Tensor, embedding: Tensor, format: WeightFormat): Tensor {
  const outer = outerSlots(config)
  const normed = flatten(rmsNorm(hidden, storedConstant(g, outer.norm, weights.norm), config.rmsNormEps), 2)
  if (isQuantized(format) && format.lmHead === 'int8' && weights.lmHeadPacked) {
    if (weights.lmHeadPacked.bits !== 8) throw new Error(`${LM_HEAD_NAME} is stored ${weights.lmHeadPacked.bits}-bit, but the format's LM head is int8`)
    return linear(normed, { quantized: weights.lmHeadPacked, name: LM_HEAD_NAME, accuracyLevel: format.accuracyLevel })
  }
  if (isQuantized(format) && format.lmHead === 'int8') {
    // A tied model quantizes a copy of its embedding: the Gather keeps reading fp32 rows.
    const slot = outer.head ?? outer.embed
    const data = checked(slot, outer.head ? weights.lmHead : weights.embed)
    const quantized = quantizeForPrecision(data, config.vocabSize, config.hiddenSize, { precision: 'int8', blockSize: format.blockSize })!
    return linear(normed, { quantized, name: `${slot.name}${outer.head ? '' : '.as_head'}`, accuracyLevel: format.accuracyLevel })
  }
  // logits = normed · Hᵀ with H [vocab, d] read in place by Gemm's transB.
  const head = outer.head ? storedConstant(g, outer.head, weights.lmHead) : embedding
  return gemm(normed, head, { transA: false, transB: true })
}

export function buildOuterGraph(config: ModelConfig, weights: ModelWeights, format: WeightFormat = FP32_WEIGHTS): Graph {
  const g = graphFor('outer', format)
  const ids = g.input('ids', 'int64', [1, 't'])
  const hidden = g.input('hidden', 'float32', [1, 's', config.hiddenSize])
  // The embedding stays fp32 in every precision: a token reads one row of it.
  const embedding = storedConstant(g, outerSlots(config).embed, weights.embed)
  g.output(gather(embedding, ids), 'embedded')
  g.output(unsqueeze(headLogits(g, config, weights, hidden, embedding, format), [0]), 'logits')
  return g
}

function layerWeights(g: Graph, config: ModelConfig, w: LayerWeights, index: number, format: WeightFormat): BlockWeights {
  const block: Partial<Record<keyof BlockWeights, Tensor | LinearWeight>> = {}
  for (const slot of layerSlots(config, index)) {
    const data = w[slot.field]
    const packed = w.prequantized?.[slot.field as LinearField]
    if (packed) block[slot.field] = prequantizedWeight(slot, packed, format)
    // A pre-quantized checkpoint's float Linears (modules_to_not_convert) were kept float on purpose: they stay fp32.
    else if (slot.role === 'linear') block[slot.field] = linearWeight(g, slot, data, w.prequantized ? FP32_WEIGHTS : format)
    else block[slot.field] = storedConstant(g, slot, data)
  }
  return block as BlockWeights
}

export function buildLayerGraph(config: ModelConfig, weights: LayerWeights, index: number, format: WeightFormat = FP32_WEIGHTS): Graph {
  const { hiddenSize: d, numKvHeads: Hkv, headDim: D } = config
  const g = graphFor(`layer_${index}`, format)
  const hidden = g.input('hidden', 'float32', [1, 't', d])
  const past: KvCache = { k: g.input('past_k', 'float32', [1, Hkv, 'p', D]), v: g.input('past_v', 'float32', [1, Hkv, 'p', D]) }
  const cos = g.input('cos', 'float32', ['t', D])
  const sin = g.input('sin', 'float32', ['t', D])
  const blockConfig = { heads: config.numHeads, kvHeads: Hkv, headDim: D, rmsNormEps: config.rmsNormEps }
  const out = decoderLayer(hidden, layerWeights(g, config, weights, index, format), blockConfig, cos, sin, past)
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
export function buildMonolithicGraph(config: ModelConfig, weights: ModelWeights, depth: number, format: WeightFormat = FP32_WEIGHTS): Graph {
  const { vocabSize: V, numKvHeads: Hkv, headDim: D } = config
  const g = graphFor(`monolithic_${depth}`, format)
  const ids = g.input('ids', 'int64', [1, 't'])
  const cos = g.input('cos', 'float32', ['t', D])
  const sin = g.input('sin', 'float32', ['t', D])
  const embedding = storedConstant(g, outerSlots(config).embed, weights.embed)
  let hidden = gather(embedding, ids)
  const blockConfig = { heads: config.numHeads, kvHeads: Hkv, headDim: D, rmsNormEps: config.rmsNormEps }
  for (let i = 0; i < depth; i++) {
    const past = { k: g.input(`past_k_${i}`, 'float32', [1, Hkv, 'p', D]), v: g.input(`past_v_${i}`, 'float32', [1, Hkv, 'p', D]) }
    const out = g.scope(`layer_${i}`, () => decoderLayer(hidden, layerWeights(g, config, weights.layers[i]!, i, format), blockConfig, cos, sin, past))
    hidden = out.hidden
    g.output(out.present.k, `present_k_${i}`)
    g.output(out.present.v, `present_v_${i}`)
  }
  g.output(reshape(headLogits(g, config, weights, hidden, embedding, format), [1, 't', V], ids), 'logits')
  return g
}
