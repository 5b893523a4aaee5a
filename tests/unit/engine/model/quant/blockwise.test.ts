import { describe, expect, it } from 'vitest'
import {
  dequantizeLinear,
  packZeroPoints,
  quantizeLinear,
  zeroPointAt,
  zeroPointsAreDefault,
  type QuantBits,
  type BlockSize,
} from '../../../../../src-main/engine/model/quant/blockwise'

/** Deterministic weights with a spread of magnitudes and both signs. */
function weights(n: number, k: number, seed = 1): Float32Array {
  let s = seed
  return Float32Array.from({ length: n * k }, () => {
    s = (s * 1103515245 + 12345) % 2147483648
    return ((s / 2147483648) * 2 - 1) * (1 + (s % 5))
  })
}

/**
 * Naive reference, element by element: codes as a plain [n][k] array, from
 * ORT's symmetric rule (scale = −(signed value of largest magnitude) / 2^(bits−1),
 * code = round(w / scale) + 2^(bits−1), clamped), float32 arithmetic.
 */
function referenceCodes(w: Float32Array, n: number, k: number, bits: number, block: number): { codes: number[][]; scales: number[][] } {
  const zp = 2 ** (bits - 1)
  const codes: number[][] = []
  const scales: number[][] = []
  for (let r = 0; r < n; r++) {
    codes.push([])
    scales.push([])
    for (let start = 0; start < k; start += block) {
      const values = Array.from(w.subarray(r * k + start, r * k + Math.min(start + block, k)))
      let m = 0
      for (const v of values) if (Math.abs(v) > Math.abs(m)) m = v
      const scale = Math.fround(-m / zp)
      scales[r]!.push(scale)
      const inv = scale === 0 ? 0 : Math.fround(1 / scale)
      for (const v of values) codes[r]!.push(Math.max(0, Math.min(2 ** bits - 1, Math.round(Math.fround(Math.fround(v * inv) + zp)))))
    }
  }
  return { codes, scales }
}

/** Code of (row, col) read from MatMulNBits' B by its published layout: [N, kBlocks, blob], low nibble first. */
function codeInB(b: Uint8Array, row: number, col: number, k: number, bits: number, block: number): number {
  const kBlocks = Math.ceil(k / block)
  const blob = (block * bits) / 8
  const base = row * kBlocks * blob + Math.floor(col / block) * blob
  const within = col % block
  if (bits === 8) return b[base + within]!
  const byte = b[base + Math.floor(within / 2)]!
  return within % 2 === 0 ? byte % 16 : Math.floor(byte / 16)
}

describe('block-wise symmetric quantization (MatMulNBits layout)', () => {
  it('packs a hand-worked 4-bit block: scale = −m/8, codes low nibble first, zero point 8 implied', () => {
    const row = new Float32Array(16)
    row.set([-4, 2, 1, 0, 3.9, -0.26])
    const q = quantizeLinear(row, 1, 16, { bits: 4, blockSize: 16 })
    expect(Array.from(q.scales)).toEqual([0.5])
    // codes = round(w / 0.5) + 8: −4→0, 2→12, 1→10, 0→8, 3.9→15.8, clipped to 15, −0.26→7.48→7; the rest 8.
    expect(Array.from(q.b)).toEqual([0xc0, 0x8a, 0x7f, 0x88, 0x88, 0x88, 0x88, 0x88])
    expect(q.zeroPoints).toBeUndefined()
    expect(Array.from(dequantizeLinear(q).subarray(0, 6))).toEqual([-4, 2, 1, 0, 3.5, -0.5])
  })

  it('packs a hand-worked 8-bit block with zero point 128 and clips the opposite extreme to +127 steps', () => {
    const row = new Float32Array(16)
    row.set([256, -256, 1, -1.5])
    const q = quantizeLinear(row, 1, 16, { bits: 8, blockSize: 16 })
    expect(Array.from(q.scales)).toEqual([-2])
    expect(Array.from(q.b.subarray(0, 5))).toEqual([0, 255, 128, 129, 128])
    expect(Array.from(dequantizeLinear(q).subarray(0, 4))).toEqual([256, -254, -0, -2])
  })

  it('rounds exact halves up as the reference does (ties land on .5 codes), in both bit widths', () => {
    for (const bits of [4, 8] as QuantBits[]) {
      const zp = 2 ** (bits - 1)
      // The largest magnitude is −zp, so the scale is 1 and each value plus zp is its unrounded code.
      const row = new Float32Array(32)
      row.set([-zp, 0.5, -0.5, 1.5, -1.5, zp - 1.5, -zp + 0.5, 2.5, -2.5, 0.49999997, -0.49999997, zp - 0.5])
      const q = quantizeLinear(row, 1, 32, { bits, blockSize: 32 })
      expect(Array.from(q.scales)).toEqual([1])
      const ref = referenceCodes(row, 1, 32, bits, 32)
      expect(Array.from({ length: 32 }, (_, col) => codeInB(q.b, 0, col, 32, bits, 32))).toEqual(ref.codes[0])
      // 0.5 → zp + 1 and −0.5 → zp: halves go up.
      expect([codeInB(q.b, 0, 1, 32, bits, 32), codeInB(q.b, 0, 2, 32, bits, 32)]).toEqual([zp + 1, zp])
    }
  })

  for (const bits of [4, 8] as QuantBits[]) {
    for (const blockSize of [32, 64, 128] as BlockSize[]) {
      for (const k of [256, 200, 37]) {
        it(`matches the element-by-element reference: ${bits}-bit, block ${blockSize}, K = ${k}`, () => {
          const n = 5
          const w = weights(n, k, bits * 1000 + blockSize + k)
          const q = quantizeLinear(w, n, k, { bits, blockSize })
          const kBlocks = Math.ceil(k / blockSize)
          expect(q.b.length).toBe(n * kBlocks * ((blockSize * bits) / 8))
          expect(q.scales.length).toBe(n * kBlocks)
          const ref = referenceCodes(w, n, k, bits, blockSize)
          const zp = 2 ** (bits - 1)
          const deq = dequantizeLinear(q)
          for (let r = 0; r < n; r++) {
            for (let c = 0; c < kBlocks; c++) expect(q.scales[r * kBlocks + c]).toBe(ref.scales[r]![c])
            for (let c = 0; c < k; c++) {
              expect(codeInB(q.b, r, c, k, bits, blockSize)).toBe(ref.codes[r]![c])
              expect(deq[r * k + c]).toBe(Math.fround((ref.codes[r]![c]! - zp) * ref.scales[r]![Math.floor(c / blockSize)]!))
            }
            // Padding past K holds the zero point, so it stands for 0.
            for (let c = k; c < kBlocks * blockSize; c++) expect(codeInB(q.b, r, c, kBlocks * blockSize, bits, blockSize)).toBe(zp)
          }
        })
      }
    }
  }

  it('keeps every value within half a step, except the clipped opposite extreme (one step), and the extreme exact', () => {
    const n = 8
    const k = 128
    const w = weights(n, k, 7)
    for (const bits of [4, 8] as QuantBits[]) {
      const q = quantizeLinear(w, n, k, { bits, blockSize: 32 })
      const deq = dequantizeLinear(q)
      for (let r = 0; r < n; r++) {
        for (let c = 0; c < k; c++) {
          const step = Math.abs(q.scales[r * 4 + Math.floor(c / 32)]!)
          const limit = Math.abs(w[r * k + c]!) > step * (2 ** (bits - 1) - 1) ? step : step / 2
          expect(Math.abs(deq[r * k + c]! - w[r * k + c]!)).toBeLessThanOrEqual(limit * (1 + 1e-6))
        }
        for (let block = 0; block < 4; block++) {
          const values = w.subarray(r * k + block * 32, r * k + block * 32 + 32)
          const extreme = values.reduce((m, v) => (Math.abs(v) > Math.abs(m) ? v : m), 0)
          const at = values.indexOf(extreme) + r * k + block * 32
          expect(deq[at]).toBe(extreme)
        }
      }
    }
  })

  it('quantizes an all-zero block to scale 0 and codes at the zero point', () => {
    const q = quantizeLinear(new Float32Array(64), 2, 32, { bits: 4, blockSize: 32 })
    expect(Array.from(q.scales).every((s) => s === 0)).toBe(true)
    expect(Array.from(q.b).every((byte) => byte === 0x88)).toBe(true)
    expect(Array.from(dequantizeLinear(q)).every((v) => v === 0)).toBe(true)
  })

  it('uses block 32 by default', () => {
    expect(quantizeLinear(weights(1, 64), 1, 64, { bits: 4 }).blockSize).toBe(32)
  })

  it('refuses bad input with a one-line error', () => {
    expect(() => quantizeLinear(new Float32Array(32), 1, 32, { bits: 3 as QuantBits })).toThrow(/bits must be 4 or 8, got 3/)
    expect(() => quantizeLinear(new Float32Array(32), 1, 32, { bits: 4, blockSize: 48 as BlockSize })).toThrow(/block size must be one of/)
    expect(() => quantizeLinear(new Float32Array(30), 1, 32, { bits: 4 })).toThrow(/30 values for shape \[1, 32\]/)
    const bad = new Float32Array(64)
    bad[40] = Number.NaN
    expect(() => quantizeLinear(bad, 2, 32, { bits: 4 })).toThrow(/row 1, block 0 holds a non-finite value/)
  })
})

describe('MatMulNBits zero points', () => {
  it('packs [N, kBlocks] into [N, ceil(kBlocks·bits/8)] per row, low nibble first', () => {
    // 2 rows × 3 blocks, 4-bit: each row takes 2 bytes, the last high nibble unused.
    const packed = packZeroPoints(Uint8Array.of(1, 2, 3, 4, 5, 6), 2, 3, 4)
    expect(Array.from(packed)).toEqual([0x21, 0x03, 0x54, 0x06])
    expect(Array.from(packZeroPoints(Uint8Array.of(1, 200, 3, 4), 2, 2, 8))).toEqual([1, 200, 3, 4])
  })

  it('reads each block’s zero point back and tells default zero points apart', () => {
    const base = quantizeLinear(weights(2, 96), 2, 96, { bits: 4, blockSize: 32 })
    expect(zeroPointsAreDefault(base)).toBe(true)
    expect(zeroPointAt(base, 1, 2)).toBe(8)
    const custom = { ...base, zeroPoints: packZeroPoints(Uint8Array.of(8, 8, 8, 8, 3, 8), 2, 3, 4) }
    expect(zeroPointAt(custom, 1, 1)).toBe(3)
    expect(zeroPointsAreDefault(custom)).toBe(false)
    expect(zeroPointsAreDefault({ ...base, zeroPoints: packZeroPoints(new Uint8Array(6).fill(8), 2, 3, 4) })).toBe(true)
  })
})
