/**
 * QLoRA's frozen base in memory: every decoder Linear weight held 4-bit in
 * MatMulNBits form (layer.prequantized, as a model loaded with
 * loadModelFolder's `quantize` option has it: the fp32 copy is never kept),
 * everything else fp32. This module turns such weights into the frozen
 * inputs the training graphs read (sorted-graph.ts frozenTensors), and
 * quantizes fp32 weights already in memory the same way the load does.
 */
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { loadModelFolder } from '../model/import'
import { quantizeLinear, type QuantizedLinear } from '../model/quant/blockwise'
import { SafetensorsFile } from '../model/safetensors'
import type { LinearField, LoadedModel, ModelConfig, ModelWeights } from '../model/types'
import { LM_HEAD_NAME, weightOf, weightSlots, type WeightSlot } from '../model/weight-map'
import type { DType } from '../onnx/dtype'
import { graphNames } from './graph-names'
import { trainedTensors, type QuantizedBase, type TrainedAdapter } from './sorted-graph'

/** A frozen graph input's value: its dtype, shape and data (shared with the weights, not copied). */
export interface FrozenValue {
  dtype: Extract<DType, 'float32' | 'uint8'>
  shape: number[]
  data: Float32Array | Uint8Array
}

/** The 4-bit weight of a decoder Linear slot, or an Error saying why the base does not hold one in `base`'s form. */
function quantizedOf(weights: ModelWeights, slot: WeightSlot, base: QuantizedBase): QuantizedLinear {
  const q = weights.layers[slot.layer!]?.prequantized?.[slot.field as LinearField]
  if (!q) throw new Error(`the base holds ${slot.name} in fp32, not 4-bit: load it with the int4 quantization QLoRA trains on`)
  if (q.bits !== base.bits || q.blockSize !== base.blockSize || q.zeroPoints) {
    throw new Error(`the base holds ${slot.name} as ${q.bits}-bit, block ${q.blockSize}${q.zeroPoints ? ' with zero points' : ''}; QLoRA here trains on ${base.bits}-bit block ${base.blockSize} symmetric weights`)
  }
  return q
}

/** The base tensors an adapter run feeds as frozen inputs, by graph input name (the adapter's scale excluded: it changes per step). */
export function frozenBaseValues(config: ModelConfig, weights: ModelWeights, adapter: TrainedAdapter): Map<string, FrozenValue> {
  const trained = new Set(trainedTensors(config, adapter).map((t) => t.name))
  const base = adapter.quantizedBase
  const values = new Map<string, FrozenValue>()
  for (const slot of weightSlots(config)) {
    if (trained.has(slot.name)) continue
    if (base && slot.role === 'linear') {
      const q = quantizedOf(weights, slot, base)
      const kBlocks = Math.ceil(q.k / q.blockSize)
      values.set(graphNames.quantizedPacked(slot.name), { dtype: 'uint8', shape: [q.n, kBlocks, q.blockSize / 2], data: q.b })
      values.set(graphNames.quantizedScales(slot.name), { dtype: 'float32', shape: [q.n, kBlocks], data: q.scales })
      continue
    }
    const data = weightOf(weights, slot)
    if (!data || data.length === 0) throw new Error(`the model has no ${slot.name}`)
    values.set(slot.name, { dtype: 'float32', shape: slot.shape as number[], data })
  }
  return values
}

/**
 * `weights` with every decoder Linear quantized to `base` (the same rounding
 * as loadModelFolder's `quantize` and the inference graphs': quantizeLinear)
 * and its fp32 field emptied; the other tensors are shared, not copied.
 */
export function quantizeBase(config: ModelConfig, weights: ModelWeights, base: QuantizedBase): ModelWeights {
  const layers = weights.layers.map((layer) => ({ ...layer, prequantized: { ...layer.prequantized } }))
  for (const slot of weightSlots(config)) {
    if (slot.role !== 'linear') continue
    const layer = layers[slot.layer!]!
    const field = slot.field as LinearField
    layer.prequantized[field] = quantizeLinear(weightOf(weights, slot)!, slot.shape[0]!, slot.shape[1]!, { bits: base.bits, blockSize: base.blockSize })
    layer[field] = new Float32Array(0)
  }
  return { ...weights, layers }
}

/**
 * A model folder loaded as QLoRA trains on it: each decoder Linear quantized
 * to `base` as it is read, its fp32 copy dropped at once (loadModelFolder's
 * `quantize`), so the load never holds the fp32 model. That option also
 * holds an untied LM head int8 (the inference graphs' head); QLoRA's head is
 * fp32 like LoRA's, so it is read again from its file.
 */
export function loadQuantizedBase(dir: string, base: QuantizedBase): LoadedModel {
  const model = loadModelFolder(dir, undefined, { quantize: { precision: 'int4', blockSize: base.blockSize } })
  if (!model.weights.lmHeadPacked) return model
  const { lmHeadPacked: _int8, ...weights } = model.weights
  return { ...model, weights: { ...weights, lmHead: readFolderTensor(dir, LM_HEAD_NAME) } }
}

/** One tensor of a model folder loadModelFolder has already checked, as float32, from whichever .safetensors file holds it. */
function readFolderTensor(dir: string, name: string): Float32Array {
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.safetensors')).sort()) {
    const st = SafetensorsFile.open(join(dir, file))
    try {
      if (st.has(name)) return st.read(name)
    } finally {
      st.close()
    }
  }
  throw new Error(`${dir}: no .safetensors file holds ${name}`)
}
