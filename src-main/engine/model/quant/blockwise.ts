/**
 * Block-wise weight quantization in ONNX Runtime's MatMulNBits layout
 * (com.microsoft contrib op; ORT 1.30 schema):
 *
 *   B           uint8 [N, kBlocks, blockSize·bits/8]  codes packed along K,
 *               low bits first (4-bit: element 2i in the low nibble, 2i+1 high)
 *   scales      float32 [N, kBlocks]
 *   zero_points uint8 [N, ceil(kBlocks·bits/8)]       optional, packed like B;
 *               absent means 2^(bits-1): 8 for 4-bit, 128 for 8-bit
 *
 * with kBlocks = ceil(K / blockSize) and w[n, k] = (code − zp) · scale.
 * A Hugging Face Linear weight [out = N, in = K] is already row-per-output,
 * so quantizing it is row by row with no transpose.
 *
 * Symmetric round-to-nearest follows ORT's own blockwise quantizer
 * (MlasQuantizeBlockwise, used by matmul_nbits_quantizer with is_symmetric):
 * scale = −m / 2^(bits-1), where m is the block's value of largest magnitude
 * WITH its sign, and code = clamp(round(w / scale + zp), 0, 2^bits − 1). The
 * largest-magnitude value lands exactly on code 0 (−8 for 4-bit), so all 16
 * (or 256) codes are used and the step is absmax/8 rather than absmax/7 —
 * finer by 1/8 — at the cost that a value of the opposite sign and equal
 * magnitude clips to +7 steps. This is also llama.cpp's Q4_0 rule, so the
 * rounding matches the tools people compare against.
 *
 * K not a multiple of blockSize: the last block is padded as if the weight had
 * zeros there (what ORT's quantizer does, np.pad with 0), i.e. the padding
 * codes equal the zero point and dequantize to 0 whatever the kernel does
 * with them.
 *
 * Everything works on typed arrays, one row at a time: no per-element objects.
 */

export type QuantBits = 4 | 8
/** Block sizes MatMulNBits accepts on CPU (a power of two, 16 to 256). RTN quantization offers 32, 64, 128. */
export type BlockSize = 16 | 32 | 64 | 128 | 256
export const BLOCK_SIZES: readonly BlockSize[] = [16, 32, 64, 128, 256]

/** One Linear layer's weight in MatMulNBits form. */
export interface QuantizedLinear {
  /** Output features (rows of the HF weight, MatMulNBits' N). */
  readonly n: number
  /** Input features (MatMulNBits' K). */
  readonly k: number
  readonly bits: QuantBits
  readonly blockSize: BlockSize
  /** [N, kBlocks, blockSize·bits/8] */
  readonly b: Uint8Array
  /** [N, kBlocks] */
  readonly scales: Float32Array
  /** Packed [N, ceil(kBlocks·bits/8)]; undefined = the default zero point 2^(bits-1). */
  readonly zeroPoints: Uint8Array | undefined
}

export class QuantizationError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'QuantizationError'
  }
}

export function kBlocksOf(k: number, blockSize: number): number {
  return Math.ceil(k / blockSize)
}

/** Bytes per block in B. */
export function blobSizeOf(bits: QuantBits, blockSize: number): number {
  return (blockSize * bits) / 8
}

/** Bytes per row of packed zero points. */
export function zeroPointRowBytes(bits: QuantBits, kBlocks: number): number {
  return Math.ceil((kBlocks * bits) / 8)
}

export function defaultZeroPoint(bits: QuantBits): number {
  return 1 << (bits - 1)
}

/** The tensor shapes MatMulNBits expects for this weight. */
export function matmulNBitsShapes(q: Pick<QuantizedLinear, 'n' | 'k' | 'bits' | 'blockSize'>): { b: number[]; scales: number[]; zeroPoints: number[] } {
  const kBlocks = kBlocksOf(q.k, q.blockSize)
  return { b: [q.n, kBlocks, blobSizeOf(q.bits, q.blockSize)], scales: [q.n, kBlocks], zeroPoints: [q.n, zeroPointRowBytes(q.bits, kBlocks)] }
}

export function checkBitsAndBlock(bits: number, blockSize: number, what: string): asserts bits is QuantBits {
  if (bits !== 4 && bits !== 8) throw new QuantizationError(`${what}: bits must be 4 or 8, got ${bits}`)
  if (!(BLOCK_SIZES as readonly number[]).includes(blockSize)) throw new QuantizationError(`${what}: block size must be one of ${BLOCK_SIZES.join(', ')}, got ${blockSize}`)
}

/** Reads code `index` (along K within a row's packed bytes, starting at `offset`). */
export function readCode(packed: Uint8Array, offset: number, index: number, bits: QuantBits): number {
  if (bits === 8) return packed[offset + index]!
  const byte = packed[offset + (index >> 1)]!
  return index & 1 ? byte >> 4 : byte & 0x0f
}

/** Writes code `index` (same addressing as readCode); the other nibble of a 4-bit byte is kept. */
export function writeCode(packed: Uint8Array, offset: number, index: number, bits: QuantBits, code: number): void {
  if (bits === 8) {
    packed[offset + index] = code
    return
  }
  const at = offset + (index >> 1)
  packed[at] = index & 1 ? (packed[at]! & 0x0f) | (code << 4) : (packed[at]! & 0xf0) | code
}

/** The zero point of block `block` of row `n`. */
export function zeroPointAt(q: Pick<QuantizedLinear, 'n' | 'k' | 'bits' | 'blockSize' | 'zeroPoints'>, n: number, block: number): number {
  if (!q.zeroPoints) return defaultZeroPoint(q.bits)
  const rowBytes = zeroPointRowBytes(q.bits, kBlocksOf(q.k, q.blockSize))
  return readCode(q.zeroPoints, n * rowBytes, block, q.bits)
}

export interface QuantizeOptions {
  bits: QuantBits
  /** Default 32. */
  blockSize?: BlockSize
}

/**
 * Symmetric RTN quantization of a float32 Linear weight in HF layout
 * [N = out, K = in] (row-major) into MatMulNBits tensors (no zero points:
 * the default 2^(bits-1) is the symmetric one).
 */
export function quantizeLinear(weight: Float32Array, n: number, k: number, options: QuantizeOptions): QuantizedLinear {
  const { bits } = options
  const blockSize = options.blockSize ?? 32
  checkBitsAndBlock(bits, blockSize, 'quantize')
  if (!Number.isInteger(n) || !Number.isInteger(k) || n <= 0 || k <= 0) throw new QuantizationError(`quantize: shape [${n}, ${k}] must be positive integers`)
  if (weight.length !== n * k) throw new QuantizationError(`quantize: ${weight.length} values for shape [${n}, ${k}]`)
  const kBlocks = kBlocksOf(k, blockSize)
  const blob = blobSizeOf(bits, blockSize)
  const b = new Uint8Array(n * kBlocks * blob)
  const scales = new Float32Array(n * kBlocks)
  const zp = defaultZeroPoint(bits)
  const maxCode = (1 << bits) - 1
  const padByte = bits === 8 ? zp : zp | (zp << 4)
  const f = Math.fround
  /**
   * The code of value v: round(v·reciprocal + zp) in float32 arithmetic as in
   * ORT, so the codes match its quantizer's, clamped to [0, maxCode]. The
   * sum is a float32 number, so adding 0.5 in double precision is exact and
   * floor(y + 0.5) is Math.round(y) (ties up); `| 0` truncates instead of
   * flooring, which differs only below 0, where the clamp gives 0 either way.
   * (This loop runs once per weight of a model: written for speed.)
   */
  const codeOf = (v: number, reciprocal: number): number => {
    const c = (f(f(v * reciprocal) + zp) + 0.5) | 0
    return c < 0 ? 0 : c > maxCode ? maxCode : c
  }
  for (let row = 0; row < n; row++) {
    const rowStart = row * k
    for (let block = 0; block < kBlocks; block++) {
      const begin = rowStart + block * blockSize
      const end = Math.min(begin + blockSize, rowStart + k)
      // The value of largest magnitude, keeping its sign (ORT's range2scale).
      let signedMax = 0
      let absMax = 0
      for (let i = begin; i < end; i++) {
        const v = weight[i]!
        const a = v < 0 ? -v : v
        // NaN compares false with everything, so test each value, not only the maximum.
        if (!(a <= Number.MAX_VALUE)) throw new QuantizationError(`quantize: row ${row}, block ${block} holds a non-finite value (${v})`)
        if (a > absMax) {
          absMax = a
          signedMax = v
        }
      }
      const scale = f(-signedMax / zp)
      scales[row * kBlocks + block] = scale
      const reciprocal = scale !== 0 ? f(1 / scale) : 0
      let at = (row * kBlocks + block) * blob
      if (end - begin < blockSize) b.fill(padByte, at, at + blob)
      if (bits === 8) {
        for (let i = begin; i < end; i++) b[at++] = codeOf(weight[i]!, reciprocal)
        continue
      }
      // Two 4-bit codes a byte, the first in the low nibble.
      let i = begin
      for (; i + 1 < end; i += 2) b[at++] = codeOf(weight[i]!, reciprocal) | (codeOf(weight[i + 1]!, reciprocal) << 4)
      // An odd last code keeps the padding's high nibble.
      if (i < end) b[at] = (b[at]! & 0xf0) | codeOf(weight[i]!, reciprocal)
    }
  }
  return { n, k, bits, blockSize, b, scales, zeroPoints: undefined }
}

/** The fp32 weight [N, K] a MatMulNBits weight stands for (a reference; big models never need it). */
export function dequantizeLinear(q: QuantizedLinear): Float32Array {
  const { n, k, bits, blockSize } = q
  const kBlocks = kBlocksOf(k, blockSize)
  const blob = blobSizeOf(bits, blockSize)
  const out = new Float32Array(n * k)
  for (let row = 0; row < n; row++) {
    for (let block = 0; block < kBlocks; block++) {
      const scale = q.scales[row * kBlocks + block]!
      const zp = zeroPointAt(q, row, block)
      const offset = (row * kBlocks + block) * blob
      const begin = block * blockSize
      const end = Math.min(begin + blockSize, k)
      for (let i = begin; i < end; i++) out[row * k + i] = (readCode(q.b, offset, i - begin, bits) - zp) * scale
    }
  }
  return out
}

/**
 * Packs per-block zero points [N, kBlocks] (one value per element) into
 * MatMulNBits' zero_points layout [N, ceil(kBlocks·bits/8)]: per row, like B,
 * low bits first; an odd last nibble is left 0.
 */
export function packZeroPoints(values: Uint8Array, n: number, kBlocks: number, bits: QuantBits): Uint8Array {
  if (values.length !== n * kBlocks) throw new QuantizationError(`zero points: ${values.length} values for [${n}, ${kBlocks}]`)
  const rowBytes = zeroPointRowBytes(bits, kBlocks)
  const out = new Uint8Array(n * rowBytes)
  for (let row = 0; row < n; row++) for (let block = 0; block < kBlocks; block++) writeCode(out, row * rowBytes, block, bits, values[row * kBlocks + block]!)
  return out
}

/** True when every packed zero point equals the default, so the input can be omitted. */
export function zeroPointsAreDefault(q: Pick<QuantizedLinear, 'n' | 'k' | 'bits' | 'blockSize' | 'zeroPoints'>): boolean {
  if (!q.zeroPoints) return true
  const kBlocks = kBlocksOf(q.k, q.blockSize)
  const zp = defaultZeroPoint(q.bits)
  for (let row = 0; row < q.n; row++) for (let block = 0; block < kBlocks; block++) if (zeroPointAt(q, row, block) !== zp) return false
  return true
}
