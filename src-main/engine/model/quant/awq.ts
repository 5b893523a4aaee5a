/**
 * AWQ checkpoints (AutoAWQ "gemm" version, the one Hugging Face loads) →
 * MatMulNBits, 4-bit, without building fp32 weights.
 *
 * An AWQ Linear with K inputs, N outputs and group size g is stored as
 *
 *   qweight int32 [K, N/8]      packed along N
 *   qzeros  int32 [⌈K/g⌉, N/8]  packed the same way
 *   scales  fp16  [⌈K/g⌉, N]
 *
 * with w[n, k] = scales[k/g, n] · (code − zero) (zeros stored as they are).
 * Within a word the eight columns are interleaved: nibble i holds column
 * AWQ_ORDER[i] = [0, 2, 4, 6, 1, 3, 5, 7][i] of the word's eight, so column j
 * sits in nibble [0, 4, 1, 5, 2, 6, 3, 7][j].
 */
import type { AwqConfig } from './prequantized-config'
import { QuantizationError, blobSizeOf, kBlocksOf, type QuantizedLinear } from './blockwise'
import { blockSizeForGroup, effectiveGroupSize, expectLength, padLastBlock, scalesToBlocks, zeroPointsToBlocks } from './grouped'
import type { LinearShape } from './gptq'

/** The nibble that holds column j (mod 8) of a packed word. */
const NIBBLE_OF_COLUMN = [0, 4, 1, 5, 2, 6, 3, 7] as const

export interface AwqLinearTensors {
  /** int32 [K, N/8] */
  qweight: Int32Array
  /** int32 [⌈K/g⌉, N/8] */
  qzeros: Int32Array
  /** [⌈K/g⌉, N]: fp16 bits as stored, or already floats. */
  scales: Uint16Array | Float32Array
}

/** One AWQ GEMM Linear → MatMulNBits with zero points. `name` (the module path) prefixes errors. */
export function repackAwq(tensors: AwqLinearTensors, shape: LinearShape, config: Pick<AwqConfig, 'groupSize'>, name: string): QuantizedLinear {
  const { k, n } = shape
  if (n % 8 !== 0) throw new QuantizationError(`${name}: AWQ packs 8 outputs per int32, but N = ${n} is not a multiple of 8`)
  const groupSize = effectiveGroupSize(config.groupSize, k)
  const groups = Math.ceil(k / groupSize)
  const wordsPerRow = n / 8
  expectLength(`${name}.qweight`, tensors.qweight, [k, wordsPerRow])
  expectLength(`${name}.qzeros`, tensors.qzeros, [groups, wordsPerRow])
  expectLength(`${name}.scales`, tensors.scales, [groups, n])
  const blockSize = blockSizeForGroup(groupSize, k, name)
  const rowBytes = kBlocksOf(k, blockSize) * blobSizeOf(4, blockSize)
  const b = new Uint8Array(n * rowBytes)
  const { qweight } = tensors
  // Two inputs (k, k+1) make one byte of each output row: low nibble k, high k+1.
  for (let i = 0; i < k; i += 2) {
    const even = i * wordsPerRow
    const odd = i + 1 < k ? even + wordsPerRow : -1
    const at = i >> 1
    for (let w = 0; w < wordsPerRow; w++) {
      const lo = qweight[even + w]!
      const hi = odd >= 0 ? qweight[odd + w]! : 0
      for (let j = 0; j < 8; j++) {
        const shift = NIBBLE_OF_COLUMN[j]! * 4
        b[(w * 8 + j) * rowBytes + at] = ((lo >>> shift) & 0x0f) | (((hi >>> shift) & 0x0f) << 4)
      }
    }
  }
  const { qzeros } = tensors
  const zeroAt = (group: number, col: number): number => (qzeros[group * wordsPerRow + (col >> 3)]! >>> (NIBBLE_OF_COLUMN[col & 7]! * 4)) & 0x0f
  const zeroPoints = zeroPointsToBlocks(zeroAt, n, k, groupSize, blockSize, `${name}.qzeros`)
  padLastBlock(b, n, k, blockSize, zeroPoints)
  return { n, k, bits: 4, blockSize, b, scales: scalesToBlocks(tensors.scales, n, k, groupSize, blockSize), zeroPoints }
}
