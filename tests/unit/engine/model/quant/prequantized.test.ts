import { describe, expect, it } from 'vitest'
import { float16BitsToFloat32, float32ToFloat16Bits } from '../../../../../src-main/engine/model/safetensors'
import { dequantizeLinear, quantizeLinear, type QuantizedLinear } from '../../../../../src-main/engine/model/quant/blockwise'
import { repackAwq } from '../../../../../src-main/engine/model/quant/awq'
import { gptqQuantizationConfig, repackGptq, toGptqTensors, type GptqLinearTensors } from '../../../../../src-main/engine/model/quant/gptq'
import { parseQuantizationConfig, parseQuantizationSection } from '../../../../../src-main/engine/model/quant/prequantized-config'

// ---------------------------------------------------------------- fixtures from known integers

interface Known {
  n: number
  k: number
  groupSize: number
  /** codes[n][k] in 0..15 */
  codes: number[][]
  /** zeros[group][n] in 0..15 */
  zeros: number[][]
  /** scales[group][n], fp16-exact */
  scales: number[][]
}

function lcg(seed: number): () => number {
  let s = seed
  return () => {
    s = (s * 1103515245 + 12345) % 2147483648
    return s / 2147483648
  }
}

function known(n: number, k: number, groupSize: number, seed: number, symmetric: boolean): Known {
  const rand = lcg(seed)
  const g = groupSize === -1 ? k : groupSize
  const groups = Math.ceil(k / g)
  return {
    n,
    k,
    groupSize,
    codes: Array.from({ length: n }, () => Array.from({ length: k }, () => Math.floor(rand() * 16))),
    zeros: Array.from({ length: groups }, () => Array.from({ length: n }, () => (symmetric ? 8 : 1 + Math.floor(rand() * 15)))),
    // Multiples of 1/256 with either sign: exact in fp16.
    scales: Array.from({ length: groups }, () => Array.from({ length: n }, () => (Math.floor(rand() * 512) - 256 || 1) / 256)),
  }
}

/** w[n][k] = scale · (code − zero), straight from the published formula. */
function referenceWeight(f: Known): Float32Array {
  const g = f.groupSize === -1 ? f.k : f.groupSize
  const out = new Float32Array(f.n * f.k)
  for (let r = 0; r < f.n; r++) for (let c = 0; c < f.k; c++) out[r * f.k + c] = f.scales[Math.floor(c / g)]![r]! * (f.codes[r]![c]! - f.zeros[Math.floor(c / g)]![r]!)
  return out
}

function fp16Grid(values: number[][]): Uint16Array {
  return Uint16Array.from(values.flat().map(float32ToFloat16Bits))
}

/** Naive GPTQ packer: qweight[k/8][n] holds code (k, n) at bits 4·(k mod 8); qzeros[g][n/8] holds zero (g, n) at bits 4·(n mod 8), v1 minus one. */
function packGptq(f: Known, format: 'gptq' | 'gptq_v2'): GptqLinearTensors {
  const qweight = new Int32Array((f.k / 8) * f.n)
  for (let c = 0; c < f.k; c++) for (let r = 0; r < f.n; r++) qweight[Math.floor(c / 8) * f.n + r]! |= f.codes[r]![c]! << (4 * (c % 8))
  const groups = f.zeros.length
  const qzeros = new Int32Array(groups * (f.n / 8))
  for (let g = 0; g < groups; g++) {
    for (let r = 0; r < f.n; r++) qzeros[g * (f.n / 8) + Math.floor(r / 8)]! |= (f.zeros[g]![r]! - (format === 'gptq' ? 1 : 0)) << (4 * (r % 8))
  }
  const g = f.groupSize === -1 ? f.k : f.groupSize
  return { qweight, qzeros, scales: fp16Grid(f.scales), gIdx: Int32Array.from({ length: f.k }, (_, i) => Math.floor(i / g)) }
}

/** Naive AWQ GEMM packer: qweight[k][n/8], word nibble i holds column 8·(n/8) + [0, 2, 4, 6, 1, 3, 5, 7][i]. */
const AWQ_ORDER = [0, 2, 4, 6, 1, 3, 5, 7]
function packAwq(f: Known): { qweight: Int32Array; qzeros: Int32Array; scales: Uint16Array } {
  const words = f.n / 8
  const qweight = new Int32Array(f.k * words)
  for (let c = 0; c < f.k; c++) for (let w = 0; w < words; w++) for (let i = 0; i < 8; i++) qweight[c * words + w]! |= f.codes[w * 8 + AWQ_ORDER[i]!]![c]! << (4 * i)
  const qzeros = new Int32Array(f.zeros.length * words)
  for (let g = 0; g < f.zeros.length; g++) for (let w = 0; w < words; w++) for (let i = 0; i < 8; i++) qzeros[g * words + w]! |= f.zeros[g]![w * 8 + AWQ_ORDER[i]!]! << (4 * i)
  return { qweight, qzeros, scales: fp16Grid(f.scales) }
}

function expectSameQuantized(a: QuantizedLinear, b: QuantizedLinear): void {
  expect({ n: a.n, k: a.k, bits: a.bits, blockSize: a.blockSize }).toEqual({ n: b.n, k: b.k, bits: b.bits, blockSize: b.blockSize })
  expect(Buffer.from(a.b).equals(Buffer.from(b.b))).toBe(true)
  expect(Array.from(a.scales)).toEqual(Array.from(b.scales))
  expect(a.zeroPoints === undefined ? undefined : Array.from(a.zeroPoints)).toEqual(b.zeroPoints === undefined ? undefined : Array.from(b.zeroPoints))
}

// ---------------------------------------------------------------- GPTQ

describe('GPTQ → MatMulNBits repacking', () => {
  const cases: [number, number, number, boolean, 'gptq' | 'gptq_v2', number][] = [
    // n, k, group, symmetric, format, expected block
    [16, 128, 32, true, 'gptq', 32],
    [8, 256, 128, true, 'gptq', 128],
    [24, 128, 64, false, 'gptq_v2', 64],
    [16, 96, 48, false, 'gptq', 16], // 48 is no block size: three blocks of 16 per group
    [8, 96, -1, true, 'gptq', 128], // one group per row; K padded to one block
    [8, 512, 256, false, 'gptq_v2', 256],
  ]
  for (const [n, k, groupSize, symmetric, format, block] of cases) {
    it(`dequantizes like scale·(code − zero): N ${n}, K ${k}, group ${groupSize}, ${symmetric ? 'sym' : 'asym'}, ${format}`, () => {
      const f = known(n, k, groupSize, n * k + groupSize, symmetric)
      const q = repackGptq(packGptq(f, format), { n, k }, { groupSize, checkpointFormat: format }, 'model.layers.0.mlp.up_proj')
      expect(q.bits).toBe(4)
      expect(q.blockSize).toBe(block)
      expect(q.zeroPoints === undefined).toBe(symmetric)
      expect(Array.from(dequantizeLinear(q))).toEqual(Array.from(referenceWeight(f)))
    })
  }

  it('accepts float scales and a missing g_idx', () => {
    const f = known(8, 64, 32, 5, true)
    const packed = packGptq(f, 'gptq')
    const q = repackGptq({ ...packed, scales: Float32Array.from(f.scales.flat()), gIdx: undefined }, { n: 8, k: 64 }, { groupSize: 32, checkpointFormat: 'gptq' }, 'm')
    expect(Array.from(dequantizeLinear(q))).toEqual(Array.from(referenceWeight(f)))
  })

  it('refuses act-order g_idx, a v1 zero that overflows, and wrongly sized tensors, naming the tensor', () => {
    const f = known(8, 64, 32, 9, true)
    const packed = packGptq(f, 'gptq')
    const shuffled = Int32Array.from(packed.gIdx!).reverse()
    expect(() => repackGptq({ ...packed, gIdx: shuffled }, { n: 8, k: 64 }, { groupSize: 32, checkpointFormat: 'gptq' }, 'layers.0.q_proj')).toThrow(
      /layers\.0\.q_proj\.g_idx: input 0 is in group 1, not 0: act-order/,
    )
    const overflow = Int32Array.from(packed.qzeros)
    overflow[0] = 0x7777777f // stored 15 → zero 16 in v1
    expect(() => repackGptq({ ...packed, qzeros: overflow }, { n: 8, k: 64 }, { groupSize: 32, checkpointFormat: 'gptq' }, 'q')).toThrow(/q\.qzeros: zero point 16 at group 0, column 0/)
    expect(() => repackGptq(packed, { n: 8, k: 128 }, { groupSize: 32, checkpointFormat: 'gptq' }, 'q')).toThrow(/q\.qweight: 64 values, expected \[16, 8\]/)
    expect(() => repackGptq(packed, { n: 8, k: 60 }, { groupSize: 32, checkpointFormat: 'gptq' }, 'q')).toThrow(/K = 60 is not a multiple of 8/)
  })
})

// ---------------------------------------------------------------- AWQ

describe('AWQ (GEMM) → MatMulNBits repacking', () => {
  for (const [n, k, groupSize, block] of [
    [16, 128, 32, 32],
    [8, 256, 128, 128],
    [24, 128, 64, 64],
    [8, 96, 48, 16],
    [16, 72, -1, 128],
  ] as const) {
    it(`dequantizes like scale·(code − zero) with the interleaved column order: N ${n}, K ${k}, group ${groupSize}`, () => {
      const f = known(n, k, groupSize, n + k + groupSize, false)
      const q = repackAwq(packAwq(f), { n, k }, { groupSize }, 'model.layers.1.self_attn.o_proj')
      expect(q.blockSize).toBe(block)
      expect(q.zeroPoints).toBeDefined()
      expect(Array.from(dequantizeLinear(q))).toEqual(Array.from(referenceWeight(f)))
    })
  }

  it('drops zero points that are all 8', () => {
    const f = known(8, 64, 32, 3, true)
    expect(repackAwq(packAwq(f), { n: 8, k: 64 }, { groupSize: 32 }, 'm').zeroPoints).toBeUndefined()
  })

  it('refuses N not a multiple of 8 and wrongly sized scales', () => {
    const f = known(8, 64, 32, 3, false)
    expect(() => repackAwq(packAwq(f), { n: 12, k: 64 }, { groupSize: 32 }, 'm')).toThrow(/N = 12 is not a multiple of 8/)
    expect(() => repackAwq({ ...packAwq(f), scales: new Uint16Array(8) }, { n: 8, k: 64 }, { groupSize: 32 }, 'm')).toThrow(/m\.scales: 8 values, expected \[2, 8\]/)
  })
})

// ---------------------------------------------------------------- GPTQ writer

describe('MatMulNBits int4 → GPTQ tensors', () => {
  it('writes what the naive GPTQ packer writes for the same codes, with v1 zeros (7) and g_idx = k / group', () => {
    const f = known(16, 128, 64, 21, true)
    const q = repackGptq(packGptq(f, 'gptq_v2'), { n: 16, k: 128 }, { groupSize: 64, checkpointFormat: 'gptq_v2' }, 'm')
    const written = Object.fromEntries(toGptqTensors(q, 'm').map((t) => [t.suffix, t]))
    const expected = packGptq(f, 'gptq')
    expect(written.qweight!.shape).toEqual([16, 16])
    expect(Array.from(written.qweight!.data)).toEqual(Array.from(expected.qweight))
    expect(written.qzeros!.shape).toEqual([2, 2])
    expect(Array.from(written.qzeros!.data)).toEqual(Array.from(expected.qzeros))
    expect(written.scales!.dtype).toBe('F16')
    expect(Array.from(written.scales!.data)).toEqual(Array.from(expected.scales as Uint16Array))
    expect(Array.from(written.g_idx!.data)).toEqual(Array.from(expected.gIdx!))
  })

  function readBack(tensors: ReturnType<typeof toGptqTensors>, n: number, k: number, groupSize: number): QuantizedLinear {
    const by = Object.fromEntries(tensors.map((t) => [t.suffix, t.data]))
    return repackGptq(
      { qweight: by.qweight as Int32Array, qzeros: by.qzeros as Int32Array, scales: by.scales as Uint16Array, gIdx: by.g_idx as Int32Array },
      { n, k },
      { groupSize, checkpointFormat: 'gptq' },
      'm',
    )
  }

  for (const blockSize of [32, 64, 128] as const) {
    it(`round-trips an RTN int4 weight (block ${blockSize}): identical B, no zero points, scales rounded to fp16`, () => {
      const n = 24
      const k = 256
      const w = Float32Array.from({ length: n * k }, (_, i) => Math.sin(i * 0.7) * (1 + (i % 3)))
      const q = quantizeLinear(w, n, k, { bits: 4, blockSize })
      const back = readBack(toGptqTensors(q, 'm'), n, k, blockSize)
      expectSameQuantized(back, { ...q, scales: q.scales.map((s) => float16BitsToFloat32(float32ToFloat16Bits(s))) })
    })
  }

  it('round-trips an imported GPTQ weight exactly', () => {
    const f = known(16, 128, 32, 33, true)
    const q = repackGptq(packGptq(f, 'gptq'), { n: 16, k: 128 }, { groupSize: 32, checkpointFormat: 'gptq' }, 'm')
    expectSameQuantized(readBack(toGptqTensors(q, 'm'), 16, 128, 32), q)
  })

  it('refuses what GPTQ cannot hold', () => {
    const w = new Float32Array(8 * 64).map((_, i) => Math.cos(i))
    expect(() => toGptqTensors(quantizeLinear(w, 8, 64, { bits: 8 }), 'layers.0.q_proj')).toThrow(/layers\.0\.q_proj: only 4-bit/)
    expect(() => toGptqTensors(quantizeLinear(w.subarray(0, 8 * 40), 8, 40, { bits: 4 }), 'm')).toThrow(/K = 40 is not a multiple of the block size 32/)
    expect(() => toGptqTensors(quantizeLinear(w.subarray(0, 4 * 64), 4, 64, { bits: 4 }), 'm')).toThrow(/N = 4 is not a multiple of 8/)
    const f = known(8, 64, 32, 1, false)
    expect(() => toGptqTensors(repackAwq(packAwq(f), { n: 8, k: 64 }, { groupSize: 32 }, 'm'), 'm')).toThrow(/only symmetric/)
  })

  it('writes a quantization_config this module reads back as the same GPTQ variant', () => {
    const config = gptqQuantizationConfig(64)
    expect(parseQuantizationConfig({ quantization_config: config }, 'out/config.json')).toEqual({
      method: 'gptq',
      bits: 4,
      groupSize: 64,
      sym: true,
      checkpointFormat: 'gptq',
      modulesToNotConvert: [],
    })
  })
})

// ---------------------------------------------------------------- quantization_config

describe('quantization_config', () => {
  const parse = (q: unknown) => parseQuantizationConfig({ model_type: 'llama', quantization_config: q }, 'm/config.json')

  it('is undefined for a plain model', () => {
    expect(parseQuantizationConfig({ model_type: 'llama' }, 'config.json')).toBeUndefined()
  })

  it('reads GPTQ and AWQ variants it supports', () => {
    expect(parse({ quant_method: 'gptq', bits: 4, group_size: -1, desc_act: false, sym: false, checkpoint_format: 'gptq_v2' })).toMatchObject({ groupSize: -1, sym: false, checkpointFormat: 'gptq_v2' })
    expect(parse({ quant_method: 'awq', bits: 4, group_size: 128, zero_point: true, version: 'GEMM', modules_to_not_convert: ['visual'] })).toEqual({
      method: 'awq',
      bits: 4,
      groupSize: 128,
      modulesToNotConvert: ['visual'],
    })
    expect(parseQuantizationSection({ bits: 4, group_size: 128, desc_act: false, sym: true }, 'm/quantize_config.json')).toMatchObject({ method: 'gptq', checkpointFormat: 'gptq' })
  })

  it('names the field of each unsupported variant', () => {
    expect(() => parse({ quant_method: 'gptq', bits: 4, group_size: 128, desc_act: true })).toThrow('m/config.json: quantization_config.desc_act: act-order')
    expect(() => parse({ quant_method: 'gptq', bits: 8, group_size: 128 })).toThrow('quantization_config.bits: only 4-bit checkpoints can be imported, got 8')
    expect(() => parse({ quant_method: 'gptq', bits: 4, group_size: 100 })).toThrow('quantization_config.group_size: 100 is not a multiple of 16')
    expect(() => parse({ quant_method: 'gptq', bits: 4, group_size: 128, checkpoint_format: 'marlin' })).toThrow('quantization_config.checkpoint_format: "marlin" is not supported')
    expect(() => parse({ quant_method: 'gptq', bits: 4, group_size: 128, is_marlin_format: true })).toThrow('quantization_config.is_marlin_format')
    expect(() => parse({ quant_method: 'awq', bits: 4, group_size: 128, version: 'gemv' })).toThrow('quantization_config.version: "gemv" packing is not supported')
    expect(() => parse({ quant_method: 'awq', bits: 4, group_size: 128, zero_point: false })).toThrow('quantization_config.zero_point')
    expect(() => parse({ quant_method: 'bitsandbytes', load_in_4bit: true })).toThrow('quantization_config.quant_method: "bitsandbytes" is not supported (supported: gptq, awq)')
    expect(() => parse('gptq')).toThrow('quantization_config.quant_method: quantization_config must be an object')
  })
})
