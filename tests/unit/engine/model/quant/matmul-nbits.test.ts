/**
 * MatMulNBits in ONNX Runtime (CPU) against x · dequantize(W)ᵀ computed
 * naively here: the layout written by quantize / repack is the one the
 * kernel reads, for 4 and 8 bits, blocks 32/64/128, with and without zero
 * points, K a multiple of the block or not.
 */
import { describe, expect, it } from 'vitest'
import { contribOpSupported } from '../../../../../src-main/engine/onnx/contrib'
import { Graph } from '../../../../../src-main/engine/onnx/graph'
import { matmulNBits, matmulNBitsProbe } from '../../../../../src-main/engine/onnx/ops/contrib'
import { toModelProto } from '../../../../../src-main/engine/onnx/serialize'
import { loadSession, tensor } from '../../../../../src-main/engine/onnx/session'
import { dequantizeLinear, packZeroPoints, quantizeLinear, type BlockSize, type QuantBits, type QuantizedLinear } from '../../../../../src-main/engine/model/quant/blockwise'
import { repackAwq } from '../../../../../src-main/engine/model/quant/awq'
import { linearNBits } from '../../../../../src-main/engine/model/quant/linear'

function wave(length: number, a: number, b: number): Float32Array {
  return Float32Array.from({ length }, (_, i) => Math.sin(i * a) * (1 + ((i * b) % 5)))
}

async function runNBits(q: QuantizedLinear, x: Float32Array, m: number, accuracyLevel: 0 | 4, bias?: Float32Array): Promise<Float32Array> {
  const g = new Graph('matmul-nbits', new Set(['MatMulNBits']))
  const a = g.input('a', 'float32', [1, 'm', q.k])
  const biasTensor = bias ? g.constant(bias, 'float32', [q.n], 'bias') : undefined
  g.output(linearNBits(a, 'w', q, { accuracyLevel, ...(biasTensor ? { bias: biasTensor } : {}) }), 'y')
  const { session } = await loadSession(toModelProto(g))
  const out = await session.run({ a: tensor('float32', x, [1, m, q.k]) })
  expect(out.y!.dims).toEqual([1, m, q.n])
  await session.release()
  return out.y!.data as Float32Array
}

/**
 * Checks y against x · Wᵀ (+ bias) row by row. accuracy_level 0: only float
 * summation error, 1e-5 of Σ|x·w|. accuracy_level 4: x is rounded to int8 per
 * block of K (step amax/127), so each block may be off by up to half a step
 * times Σ|w| over the block; the bound is that, plus the float allowance.
 */
function expectProduct(y: Float32Array, x: Float32Array, w: Float32Array, m: number, n: number, k: number, block: number, accuracyLevel: 0 | 4, bias?: Float32Array): void {
  let worstRatio = 0
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let exact = bias ? bias[j]! : 0
      let magnitude = 0
      let int8Bound = 0
      for (let start = 0; start < k; start += block) {
        let amax = 0
        let wSum = 0
        for (let t = start; t < Math.min(start + block, k); t++) {
          exact += x[i * k + t]! * w[j * k + t]!
          magnitude += Math.abs(x[i * k + t]! * w[j * k + t]!)
          amax = Math.max(amax, Math.abs(x[i * k + t]!))
          wSum += Math.abs(w[j * k + t]!)
        }
        int8Bound += (amax / 127 / 2) * wSum
      }
      const bound = 1e-5 * magnitude + (accuracyLevel === 4 ? int8Bound : 0)
      const error = Math.abs(y[i * n + j]! - exact)
      worstRatio = Math.max(worstRatio, error / bound)
    }
  }
  expect(worstRatio).toBeLessThanOrEqual(1)
}

describe('MatMulNBits on ONNX Runtime CPU', () => {
  it('passes the contrib-op probe on CPU', async () => {
    expect(await contribOpSupported(matmulNBitsProbe, 'cpu')).toBe(true)
  })

  const m = 3
  const n = 24
  for (const bits of [4, 8] as QuantBits[]) {
    for (const blockSize of [32, 64, 128] as BlockSize[]) {
      for (const k of [256, 200]) {
        for (const accuracyLevel of [0, 4] as const) {
          it(`${bits}-bit, block ${blockSize}, K ${k}, accuracy_level ${accuracyLevel}: y = x · dequant(W)ᵀ`, async () => {
            const q = quantizeLinear(wave(n * k, 0.37, 3), n, k, { bits, blockSize })
            const x = wave(m * k, 0.11, 7)
            const y = await runNBits(q, x, m, accuracyLevel)
            expectProduct(y, x, dequantizeLinear(q), m, n, k, blockSize, accuracyLevel)
          })
        }
      }
    }
  }

  it('reads packed zero points and adds the bias (an AWQ weight, K not a multiple of the block)', async () => {
    const k = 96
    // Known codes 0..15 and zeros 1..15 packed the AWQ way, then repacked.
    const order = [0, 2, 4, 6, 1, 3, 5, 7]
    const codes = (r: number, c: number) => (r * 7 + c * 3) % 16
    const zeros = (g: number, r: number) => 1 + ((g * 5 + r) % 15)
    const words = n / 8
    const qweight = new Int32Array(k * words)
    for (let c = 0; c < k; c++) for (let w = 0; w < words; w++) for (let i = 0; i < 8; i++) qweight[c * words + w]! |= codes(w * 8 + order[i]!, c) << (4 * i)
    const groups = 1 // group -1: one per row, in a 128 block padded past K = 96
    const qzeros = new Int32Array(groups * words)
    for (let w = 0; w < words; w++) for (let i = 0; i < 8; i++) qzeros[w]! |= zeros(0, w * 8 + order[i]!) << (4 * i)
    const scales = Float32Array.from({ length: n }, (_, r) => (r - 11.5) / 64)
    const q = repackAwq({ qweight, qzeros, scales }, { n, k }, { groupSize: -1 }, 'awq')
    expect(q.zeroPoints).toBeDefined()
    const x = wave(m * k, 0.23, 2)
    const bias = Float32Array.from({ length: n }, (_, j) => j / 10)
    const y = await runNBits(q, x, m, 0, bias)
    const w = new Float32Array(n * k)
    for (let r = 0; r < n; r++) for (let c = 0; c < k; c++) w[r * k + c] = scales[r]! * (codes(r, c) - zeros(0, r))
    expectProduct(y, x, w, m, n, k, q.blockSize, 0, bias)
  })

  for (const bits of [4, 8] as QuantBits[]) {
    it(`reads ${bits}-bit packed zero points, one per block, with an odd block count`, async () => {
      const k = 160 // 5 blocks of 32: the last 4-bit zero-point byte is half used
      const base = quantizeLinear(wave(n * k, 0.29, 5), n, k, { bits, blockSize: 32 })
      const values = Uint8Array.from({ length: n * 5 }, (_, i) => (i * 37) % 2 ** bits)
      const q = { ...base, zeroPoints: packZeroPoints(values, n, 5, bits) }
      const x = wave(m * k, 0.13, 3)
      expectProduct(await runNBits(q, x, m, 0), x, dequantizeLinear(q), m, n, k, 32, 0)
    })
  }

  it('checks the weight tensors against K, N, bits and block size when the graph is built', () => {
    const g = new Graph('bad', new Set(['MatMulNBits']))
    const a = g.input('a', 'float32', [2, 64])
    const b = g.constant(new Uint8Array(8 * 2 * 16), 'uint8', [8, 2, 16], 'b')
    const scales = g.constant(new Float32Array(16), 'float32', [8, 2], 's')
    const params = { k: 64, n: 8, bits: 4 as const, blockSize: 32, accuracyLevel: 4 as const }
    expect(matmulNBits(a, { b, scales }, params).shape).toEqual([2, 8])
    expect(() => matmulNBits(a, { b, scales }, { ...params, bits: 8 })).toThrow(/MatMulNBits.*B must be \[8, 2, 32\], got \[8, 2, 16\]/)
    expect(() => matmulNBits(a, { b, scales }, { ...params, k: 96 })).toThrow(/A's last dim 64 is not K = 96/)
    expect(() => matmulNBits(a, { b, scales }, { ...params, blockSize: 48 })).toThrow(/block_size must be a power of two/)
    const zeroPoints = g.constant(new Uint8Array(16), 'uint8', [8, 2], 'z')
    expect(() => matmulNBits(a, { b, scales, zeroPoints }, params)).toThrow(/zero_points must be \[8, 1\]/)
    const plain = new Graph('plain')
    const x = plain.input('a', 'float32', [2, 64])
    const pb = plain.constant(new Uint8Array(8 * 2 * 16), 'uint8', [8, 2, 16], 'b')
    const ps = plain.constant(new Float32Array(16), 'float32', [8, 2], 's')
    expect(() => matmulNBits(x, { b: pb, scales: ps }, params)).toThrow(/not cleared to use/)
  })
})
