/**
 * GPTQ and AWQ model folders written in their published packing from known
 * integer codes, zeros and fp16-exact scales, plus the float model they
 * stand for (w = scale · (code − zero)), for loading tests.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { configToJson } from '../../../../src-main/engine/model/config'
import { float32ToFloat16Bits, writeSafetensors, type TensorToWrite } from '../../../../src-main/engine/model/safetensors'
import type { LayerField, WeightSlot } from '../../../../src-main/engine/model/weight-map'
import { weightOf, weightSlots } from '../../../../src-main/engine/model/weight-map'
import type { ModelConfig, ModelWeights } from '../../../../src-main/engine/model/types'
import { random } from '../onnx/gradcheck'

export interface PrequantizedFixture {
  /** The float model the packed weights stand for. */
  reference: ModelWeights
  /** config.json's quantization_config. */
  quantizationConfig: Record<string, unknown>
}

export interface FixtureOptions {
  method: 'gptq' | 'awq'
  groupSize: number
  /** All zeros 8 (GPTQ sym). With `withMinimumCode`, every group also holds code 0, so RTN int4 of the reference recovers the same codes. */
  symmetric: boolean
  withMinimumCode?: boolean
  /** GPTQ only; default 'gptq' (v1: zeros stored minus one). */
  checkpointFormat?: 'gptq' | 'gptq_v2'
  modulesToNotConvert?: string[]
  seed?: number
}

const AWQ_ORDER = [0, 2, 4, 6, 1, 3, 5, 7]

/** Packs one Linear [n, k]; returns the tensors (by suffix) and its reference float weight. */
function packLinear(n: number, k: number, o: FixtureOptions, rand: () => number): { tensors: Map<string, Int32Array | Uint16Array>; weight: Float32Array } {
  const g = o.groupSize === -1 ? k : o.groupSize
  const groups = Math.ceil(k / g)
  const codes = Array.from({ length: n }, () => Array.from({ length: k }, () => Math.floor(rand() * 16)))
  if (o.withMinimumCode) for (const row of codes) for (let group = 0; group < groups; group++) row[group * g + Math.floor(rand() * g)] = 0
  const zeros = Array.from({ length: groups }, () => Array.from({ length: n }, () => (o.symmetric ? 8 : 1 + Math.floor(rand() * 15))))
  // Multiples of 1/1024 with either sign, small like real scales: exact in fp16.
  const scales = Array.from({ length: groups }, () => Array.from({ length: n }, () => (Math.floor(rand() * 64) - 32 || 1) / 1024))
  const weight = new Float32Array(n * k)
  for (let r = 0; r < n; r++) for (let c = 0; c < k; c++) weight[r * k + c] = scales[Math.floor(c / g)]![r]! * (codes[r]![c]! - zeros[Math.floor(c / g)]![r]!)
  const scaleBits = Uint16Array.from(scales.flat().map(float32ToFloat16Bits))
  const tensors = new Map<string, Int32Array | Uint16Array>()
  if (o.method === 'gptq') {
    const qweight = new Int32Array((k / 8) * n)
    for (let c = 0; c < k; c++) for (let r = 0; r < n; r++) qweight[Math.floor(c / 8) * n + r]! |= codes[r]![c]! << (4 * (c % 8))
    const qzeros = new Int32Array(groups * (n / 8))
    const minus = (o.checkpointFormat ?? 'gptq') === 'gptq' ? 1 : 0
    for (let gr = 0; gr < groups; gr++) for (let r = 0; r < n; r++) qzeros[gr * (n / 8) + Math.floor(r / 8)]! |= (zeros[gr]![r]! - minus) << (4 * (r % 8))
    tensors.set('qweight', qweight).set('qzeros', qzeros).set('scales', scaleBits)
    tensors.set('g_idx', Int32Array.from({ length: k }, (_, i) => Math.floor(i / g)))
  } else {
    const words = n / 8
    const qweight = new Int32Array(k * words)
    for (let c = 0; c < k; c++) for (let w = 0; w < words; w++) for (let i = 0; i < 8; i++) qweight[c * words + w]! |= codes[w * 8 + AWQ_ORDER[i]!]![c]! << (4 * i)
    const qzeros = new Int32Array(groups * words)
    for (let gr = 0; gr < groups; gr++) for (let w = 0; w < words; w++) for (let i = 0; i < 8; i++) qzeros[gr * words + w]! |= zeros[gr]![w * 8 + AWQ_ORDER[i]!]! << (4 * i)
    tensors.set('qweight', qweight).set('qzeros', qzeros).set('scales', scaleBits)
  }
  return { tensors, weight }
}

function leftAsFloat(slot: WeightSlot, o: FixtureOptions): boolean {
  return (o.modulesToNotConvert ?? []).some((m) => slot.name.includes(m))
}

/**
 * Writes `dir` as a pre-quantized checkpoint of `config`: the non-linear
 * tensors (and modules_to_not_convert) from `floats` as F32, every other
 * Linear packed. Returns the reference float model.
 */
export function writePrequantizedFolder(dir: string, config: ModelConfig, floats: ModelWeights, o: FixtureOptions): PrequantizedFixture {
  const rand = random(o.seed ?? 3)
  const reference: ModelWeights = { ...floats, layers: floats.layers.map((l) => ({ ...l })) }
  const tensors: TensorToWrite[] = []
  for (const slot of weightSlots(config)) {
    if (slot.role === 'linear' && !leftAsFloat(slot, o)) {
      const [n, k] = slot.shape as [number, number]
      const packed = packLinear(n, k, o, rand)
      reference.layers[slot.layer!]![slot.field as LayerField] = packed.weight
      const module = slot.name.replace(/\.weight$/, '')
      for (const [suffix, data] of packed.tensors) {
        const shape =
          suffix === 'g_idx' ? [k] : suffix === 'scales' ? [data.length / n, n] : suffix === 'qzeros' ? [data.length / (n / 8), n / 8] : o.method === 'gptq' ? [k / 8, n] : [k, n / 8]
        tensors.push(data instanceof Int32Array ? { name: `${module}.${suffix}`, shape, dtype: 'I32', data } : { name: `${module}.${suffix}`, shape, dtype: 'F16', data })
      }
    } else {
      tensors.push({ name: slot.name, shape: slot.shape, data: weightOf(floats, slot)! })
    }
  }
  const quantizationConfig: Record<string, unknown> =
    o.method === 'gptq'
      ? { quant_method: 'gptq', bits: 4, group_size: o.groupSize, desc_act: false, sym: o.symmetric, checkpoint_format: o.checkpointFormat ?? 'gptq' }
      : { quant_method: 'awq', bits: 4, group_size: o.groupSize, version: 'gemm', zero_point: true }
  if (o.modulesToNotConvert) quantizationConfig.modules_to_not_convert = o.modulesToNotConvert
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...configToJson(config, 'F32'), quantization_config: quantizationConfig }))
  writeSafetensors(join(dir, 'model.safetensors'), tensors, { dtype: 'F32', metadata: { format: 'pt' } })
  return { reference, quantizationConfig }
}
