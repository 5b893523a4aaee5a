/**
 * GPTQ checkpoints ⇄ MatMulNBits, 4-bit, without building fp32 weights.
 *
 * A GPTQ Linear (AutoGPTQ / GPTQModel / optimum layout) with K inputs, N
 * outputs and group size g is stored as
 *
 *   qweight int32 [K/8, N]        code of (k, n) in bits 4·(k mod 8) of word [k/8, n]
 *   qzeros  int32 [⌈K/g⌉, N/8]    zero of (group, n) in bits 4·(n mod 8) of word [group, n/8]
 *   scales  fp16  [⌈K/g⌉, N]
 *   g_idx   int32 [K]             group of each input; k/g unless act-order
 *
 * and w[n, k] = scales[k/g, n] · (code − zero), where checkpoint format
 * "gptq" (v1) stores zero − 1 and "gptq_v2" stores zero. A qweight word holds
 * codes k..k+7 of one output low nibble first, which read as little-endian
 * bytes is exactly MatMulNBits' packing of that output's row along K — so
 * repacking B is a transpose of 32-bit words, in both directions.
 */
import { float32ToFloat16Bits } from '../safetensors'
import type { GptqConfig } from './prequantized-config'
import { QuantizationError, blobSizeOf, kBlocksOf, zeroPointsAreDefault, type QuantizedLinear } from './blockwise'
import { blockSizeForGroup, effectiveGroupSize, expectLength, padLastBlock, scalesToBlocks, zeroPointsToBlocks } from './grouped'

export interface GptqLinearTensors {
  /** int32 [K/8, N] */
  qweight: Int32Array
  /** int32 [⌈K/g⌉, N/8] */
  qzeros: Int32Array
  /** [⌈K/g⌉, N]: fp16 bits as stored, or already floats. */
  scales: Uint16Array | Float32Array
  /** int32 [K]; checked to be the plain k/g grouping when given. */
  gIdx?: Int32Array | undefined
}

/** Input features K and output features N of the Linear layer. */
export interface LinearShape {
  k: number
  n: number
}

/** One GPTQ Linear → MatMulNBits (4-bit; block = the group size, or a divisor of it). `name` (e.g. the module path) prefixes errors. */
export function repackGptq(tensors: GptqLinearTensors, shape: LinearShape, config: Pick<GptqConfig, 'groupSize' | 'checkpointFormat'>, name: string): QuantizedLinear {
  const { k, n } = shape
  if (k % 8 !== 0) throw new QuantizationError(`${name}: GPTQ packs 8 inputs per int32, but K = ${k} is not a multiple of 8`)
  if (n % 8 !== 0) throw new QuantizationError(`${name}: GPTQ packs 8 zero points per int32, but N = ${n} is not a multiple of 8`)
  const groupSize = effectiveGroupSize(config.groupSize, k)
  const groups = Math.ceil(k / groupSize)
  expectLength(`${name}.qweight`, tensors.qweight, [k / 8, n])
  expectLength(`${name}.qzeros`, tensors.qzeros, [groups, n / 8])
  expectLength(`${name}.scales`, tensors.scales, [groups, n])
  if (tensors.gIdx) {
    expectLength(`${name}.g_idx`, tensors.gIdx, [k])
    for (let i = 0; i < k; i++) {
      if (tensors.gIdx[i] !== Math.floor(i / groupSize)) {
        throw new QuantizationError(`${name}.g_idx: input ${i} is in group ${tensors.gIdx[i]}, not ${Math.floor(i / groupSize)}: act-order checkpoints are not supported`)
      }
    }
  }
  const blockSize = blockSizeForGroup(groupSize, k, name)
  const kBlocks = kBlocksOf(k, blockSize)
  const rowBytes = kBlocks * blobSizeOf(4, blockSize)
  const b = new Uint8Array(n * rowBytes)
  // Transpose words: [K/8, N] → [N, rowBytes/4]; rowBytes is a multiple of 8 (block ≥ 16).
  const words = new Uint32Array(b.buffer)
  const rowWords = rowBytes / 4
  const { qweight } = tensors
  for (let r = 0; r < k / 8; r++) {
    const src = r * n
    for (let col = 0; col < n; col++) words[col * rowWords + r] = qweight[src + col]!
  }
  const offset = config.checkpointFormat === 'gptq' ? 1 : 0
  const { qzeros } = tensors
  const zeroWords = n / 8
  const zeroAt = (group: number, col: number): number => ((qzeros[group * zeroWords + (col >> 3)]! >>> ((col & 7) * 4)) & 0x0f) + offset
  const zeroPoints = zeroPointsToBlocks(zeroAt, n, k, groupSize, blockSize, `${name}.qzeros`)
  padLastBlock(b, n, k, blockSize, zeroPoints)
  return { n, k, bits: 4, blockSize, b, scales: scalesToBlocks(tensors.scales, n, k, groupSize, blockSize), zeroPoints }
}

export interface GptqTensorToWrite {
  /** Suffix after the module path: `${module}.${suffix}`. */
  suffix: 'qweight' | 'qzeros' | 'scales' | 'g_idx'
  dtype: 'I32' | 'F16'
  shape: number[]
  /** Int32Array for I32, fp16 bits for F16. */
  data: Int32Array | Uint16Array
}

/**
 * A symmetric 4-bit MatMulNBits weight as GPTQ v1 tensors (group size = its
 * block size, zero points stored as 8 − 1 = 7, the format every GPTQ loader
 * reads). Scales are rounded to fp16, the only precision lost.
 */
export function toGptqTensors(q: QuantizedLinear, name: string): GptqTensorToWrite[] {
  const { n, k, blockSize } = q
  if (q.bits !== 4) throw new QuantizationError(`${name}: only 4-bit weights can be written as GPTQ, this one is ${q.bits}-bit`)
  if (!zeroPointsAreDefault(q)) throw new QuantizationError(`${name}: only symmetric weights (zero point 8 everywhere) can be written as GPTQ`)
  if (k % blockSize !== 0) throw new QuantizationError(`${name}: K = ${k} is not a multiple of the block size ${blockSize}; GPTQ needs whole groups`)
  if (n % 8 !== 0) throw new QuantizationError(`${name}: N = ${n} is not a multiple of 8, which GPTQ's qzeros packing needs`)
  const groups = k / blockSize
  const rowWords = (groups * blobSizeOf(4, blockSize)) / 4
  const words = new Uint32Array(q.b.buffer, q.b.byteOffset, q.b.byteLength / 4)
  if (q.b.byteOffset % 4 !== 0) throw new QuantizationError(`${name}: B is not 4-byte aligned`)
  const qweight = new Int32Array((k / 8) * n)
  for (let col = 0; col < n; col++) {
    const src = col * rowWords
    for (let r = 0; r < k / 8; r++) qweight[r * n + col] = words[src + r]! | 0
  }
  const qzeros = new Int32Array(groups * (n / 8)).fill(0x77777777)
  const scales = new Uint16Array(groups * n)
  for (let col = 0; col < n; col++) {
    for (let group = 0; group < groups; group++) {
      const s = q.scales[col * groups + group]!
      if (!(Math.abs(s) <= 65504)) throw new QuantizationError(`${name}: scale ${s} at column ${col}, group ${group} does not fit in fp16`)
      scales[group * n + col] = float32ToFloat16Bits(s)
    }
  }
  const gIdx = Int32Array.from({ length: k }, (_, i) => Math.floor(i / blockSize))
  return [
    { suffix: 'qweight', dtype: 'I32', shape: [k / 8, n], data: qweight },
    { suffix: 'qzeros', dtype: 'I32', shape: [groups, n / 8], data: qzeros },
    { suffix: 'scales', dtype: 'F16', shape: [groups, n], data: scales },
    { suffix: 'g_idx', dtype: 'I32', shape: [k], data: gIdx },
  ]
}

/** config.json's `quantization_config` for a model written with `toGptqTensors` (one group size for all layers). */
export function gptqQuantizationConfig(groupSize: number, modulesToNotConvert: string[] = []): Record<string, unknown> {
  return {
    quant_method: 'gptq',
    bits: 4,
    group_size: groupSize,
    desc_act: false,
    sym: true,
    checkpoint_format: 'gptq',
    true_sequential: true,
    ...(modulesToNotConvert.length ? { modules_to_not_convert: modulesToNotConvert } : {}),
  }
}
