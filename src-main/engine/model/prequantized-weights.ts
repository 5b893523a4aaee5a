/**
 * The stored tensors of a pre-quantized (GPTQ or AWQ) checkpoint, per Linear
 * slot of the weight map: which names and shapes its header must hold in
 * place of `<module>.weight`, and how to turn them into a MatMulNBits weight
 * without ever building the float32 matrix.
 *
 *   GPTQ  qweight I32 [K/8, N]   qzeros I32 [groups, N/8]   scales F16 [groups, N]   g_idx I32 [K] (optional)
 *   AWQ   qweight I32 [K, N/8]   qzeros I32 [groups, N/8]   scales F16 [groups, N]
 *
 * with N = out, K = in of the slot's HF shape [out, in], groups = ⌈K/g⌉.
 */
import { repackAwq } from './quant/awq'
import type { QuantizedLinear } from './quant/blockwise'
import { repackGptq } from './quant/gptq'
import { effectiveGroupSize } from './quant/grouped'
import type { PrequantizedConfig } from './quant/prequantized-config'
import type { SafetensorsFile } from './safetensors'
import type { WeightSlot } from './weight-map'

export interface QuantizedTensorSpec {
  name: string
  suffix: 'qweight' | 'qzeros' | 'scales' | 'g_idx'
  shape: number[]
  dtype: 'I32' | 'F16'
  /** A GPTQ export without g_idx is still plain grouping. */
  optional: boolean
}

/** `model.layers.0.self_attn.q_proj.weight` → `model.layers.0.self_attn.q_proj`. */
export function moduleOf(slot: WeightSlot): string {
  return slot.name.replace(/\.weight$/, '')
}

/**
 * Whether the checkpoint keeps this Linear as a plain float weight. Matched as
 * transformers does (`key in module name`): an entry may be a full path or a
 * short name such as "down_proj".
 */
export function isLeftUnquantized(slot: WeightSlot, quant: PrequantizedConfig): boolean {
  const module = moduleOf(slot)
  return quant.modulesToNotConvert.some((entry) => module.includes(entry))
}

/** The tensors a quantized Linear slot is stored as; undefined for slots stored as floats. */
export function quantizedTensorSpecs(slot: WeightSlot, quant: PrequantizedConfig | undefined): QuantizedTensorSpec[] | undefined {
  if (!quant || slot.role !== 'linear' || isLeftUnquantized(slot, quant)) return undefined
  const [n, k] = slot.shape as [number, number]
  const groups = Math.ceil(k / effectiveGroupSize(quant.groupSize, k))
  const module = moduleOf(slot)
  const spec = (suffix: QuantizedTensorSpec['suffix'], shape: number[], dtype: QuantizedTensorSpec['dtype'], optional = false): QuantizedTensorSpec => ({
    name: `${module}.${suffix}`,
    suffix,
    shape,
    dtype,
    optional,
  })
  // Fractional sizes (K or N not a multiple of 8) are reported by the shape check against the header.
  if (quant.method === 'gptq') {
    return [spec('qweight', [k / 8, n], 'I32'), spec('qzeros', [groups, n / 8], 'I32'), spec('scales', [groups, n], 'F16'), spec('g_idx', [k], 'I32', true)]
  }
  return [spec('qweight', [k, n / 8], 'I32'), spec('qzeros', [groups, n / 8], 'I32'), spec('scales', [groups, n], 'F16')]
}

/** Reads one quantized Linear's tensors raw (int32 codes, fp16 scale bits) and repacks them for MatMulNBits. */
export function readPrequantizedLinear(slot: WeightSlot, specs: QuantizedTensorSpec[], quant: PrequantizedConfig, holder: (name: string) => SafetensorsFile | undefined): QuantizedLinear {
  const [n, k] = slot.shape as [number, number]
  const ints = (suffix: QuantizedTensorSpec['suffix']): Int32Array | undefined => {
    const spec = specs.find((s) => s.suffix === suffix)!
    return holder(spec.name)?.readRaw(spec.name, 'I32')
  }
  const scalesSpec = specs.find((s) => s.suffix === 'scales')!
  const scales = holder(scalesSpec.name)!.readRaw(scalesSpec.name, 'F16')
  const module = moduleOf(slot)
  if (quant.method === 'gptq') {
    return repackGptq({ qweight: ints('qweight')!, qzeros: ints('qzeros')!, scales, gIdx: ints('g_idx') }, { n, k }, quant, module)
  }
  return repackAwq({ qweight: ints('qweight')!, qzeros: ints('qzeros')!, scales }, { n, k }, quant, module)
}
