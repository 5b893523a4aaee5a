/**
 * What GPTQ and AWQ checkpoints share: per-group fp16 scales [groups, N]
 * and zero points along K, mapped onto MatMulNBits blocks [N, kBlocks].
 * A group of g input features becomes g / blockSize consecutive blocks with
 * the same scale and zero point, so every group size that is a multiple of
 * 16 can be expressed exactly.
 */
import { float16BitsToFloat32 } from '../safetensors'
import { BLOCK_SIZES, QuantizationError, blobSizeOf, defaultZeroPoint, kBlocksOf, packZeroPoints, type BlockSize } from './blockwise'

/** Checks a tensor's element count; `what` names the tensor in the error. */
export function expectLength(what: string, array: { length: number }, shape: number[]): void {
  const size = shape.reduce((a, b) => a * b, 1)
  if (array.length !== size) throw new QuantizationError(`${what}: ${array.length} values, expected [${shape.join(', ')}] = ${size}`)
}

/** Input features per group: -1 (one group per row) is the whole K. */
export function effectiveGroupSize(groupSize: number, k: number): number {
  return groupSize === -1 ? k : groupSize
}

/**
 * The MatMulNBits block for a group size: the group itself when it is one,
 * else the largest block that divides it. A single group per row (g ≥ K)
 * fits any block; 128 (or the smallest block covering a short K) is used.
 */
export function blockSizeForGroup(groupSize: number, k: number, what: string): BlockSize {
  if (groupSize >= k) return BLOCK_SIZES.find((b) => b >= Math.min(k, 128))!
  if ((BLOCK_SIZES as readonly number[]).includes(groupSize)) return groupSize as BlockSize
  for (const b of [128, 64, 32, 16] as const) if (groupSize % b === 0) return b
  throw new QuantizationError(`${what}: group size ${groupSize} is not a multiple of 16`)
}

/** Per-group scales [groups, N] (fp16 bits or floats) → MatMulNBits scales [N, kBlocks]. */
export function scalesToBlocks(scales: Uint16Array | Float32Array, n: number, k: number, groupSize: number, blockSize: number): Float32Array {
  const kBlocks = kBlocksOf(k, blockSize)
  const out = new Float32Array(n * kBlocks)
  const half = scales instanceof Uint16Array
  for (let block = 0; block < kBlocks; block++) {
    const rowOfGroup = Math.floor((block * blockSize) / groupSize) * n
    for (let col = 0; col < n; col++) {
      const s = scales[rowOfGroup + col]!
      out[col * kBlocks + block] = half ? float16BitsToFloat32(s) : s
    }
  }
  return out
}

/**
 * Zero points given per (group, column) by `zeroAt` → packed MatMulNBits
 * zero_points, or undefined when all are the default 8 (symmetric). Each
 * must fit in 4 bits; `what` names the tensor in the error.
 */
export function zeroPointsToBlocks(
  zeroAt: (group: number, col: number) => number,
  n: number,
  k: number,
  groupSize: number,
  blockSize: number,
  what: string,
): Uint8Array | undefined {
  const groups = Math.ceil(k / groupSize)
  let allDefault = true
  for (let group = 0; group < groups && allDefault; group++) for (let col = 0; col < n; col++) if (zeroAt(group, col) !== defaultZeroPoint(4)) allDefault = false
  if (allDefault) return undefined
  const kBlocks = kBlocksOf(k, blockSize)
  const values = new Uint8Array(n * kBlocks)
  for (let block = 0; block < kBlocks; block++) {
    const group = Math.floor((block * blockSize) / groupSize)
    for (let col = 0; col < n; col++) {
      const z = zeroAt(group, col)
      if (z < 0 || z > 15) throw new QuantizationError(`${what}: zero point ${z} at group ${group}, column ${col} does not fit in 4 bits`)
      values[col * kBlocks + block] = z
    }
  }
  return packZeroPoints(values, n, kBlocks, 4)
}

/**
 * 4-bit B rows hold K/2 bytes of codes; when K is not a multiple of the
 * block, fill the rest of the last block with its zero point so the padding
 * dequantizes to 0 (as ORT's own quantizer leaves it).
 */
export function padLastBlock(b: Uint8Array, n: number, k: number, blockSize: number, zeroPoints: Uint8Array | undefined): void {
  const kBlocks = kBlocksOf(k, blockSize)
  const rowBytes = kBlocks * blobSizeOf(4, blockSize)
  if (k === kBlocks * blockSize) return
  const zpRowBytes = Math.ceil(kBlocks / 2)
  for (let col = 0; col < n; col++) {
    let zp = defaultZeroPoint(4)
    if (zeroPoints) {
      const byte = zeroPoints[col * zpRowBytes + ((kBlocks - 1) >> 1)]!
      zp = (kBlocks - 1) & 1 ? byte >> 4 : byte & 0x0f
    }
    const row = col * rowBytes
    for (let i = k; i < kBlocks * blockSize; i++) {
      const at = row + (i >> 1)
      b[at] = i & 1 ? (b[at]! & 0x0f) | (zp << 4) : (b[at]! & 0xf0) | zp
    }
  }
}
