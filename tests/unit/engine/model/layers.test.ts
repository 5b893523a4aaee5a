import { describe, expect, it } from 'vitest'
import { Graph, type Tensor } from '../../../../src-main/engine/onnx/graph'
import { toModelProto } from '../../../../src-main/engine/onnx/serialize'
import { loadSession, tensor } from '../../../../src-main/engine/onnx/session'
import { causalAttention, rmsNorm, rope, ropeTables, swiglu, transformerBlock } from '../../../../src-main/engine/model/layers'
import { gradcheck, random } from '../onnx/gradcheck'

const constant = (g: Graph, data: Float64Array, shape: number[]) => g.constant(data, 'float64', shape)

/** Runs a float64 graph once and returns output `y`. */
async function evaluate(shapes: number[][], values: Float64Array[], build: (...xs: Tensor[]) => Tensor): Promise<Float64Array> {
  const g = new Graph()
  const xs = shapes.map((s, i) => g.input(`x${i}`, 'float64', s))
  g.output(build(...xs), 'y')
  const { session } = await loadSession(toModelProto(g))
  const out = await session.run(Object.fromEntries(values.map((v, i) => [`x${i}`, tensor('float64', v, shapes[i]!)])))
  return out.y!.data as Float64Array
}

function randomArray(n: number, seed: number): Float64Array {
  const r = random(seed)
  return Float64Array.from({ length: n }, () => r() * 2 - 1)
}

describe('LLaMA blocks: forward against naive references', () => {
  it('RMSNorm', async () => {
    const x = randomArray(2 * 5, 1)
    const w = randomArray(5, 2)
    const y = await evaluate([[2, 5], [5]], [x, w], (a, b) => rmsNorm(a, b, 1e-6))
    for (let r = 0; r < 2; r++) {
      const row = x.subarray(r * 5, r * 5 + 5)
      const rms = Math.sqrt(row.reduce((s, v) => s + v * v, 0) / 5 + 1e-6)
      for (let i = 0; i < 5; i++) expect(y[r * 5 + i]).toBeCloseTo((row[i]! / rms) * w[i]!, 12)
    }
  })

  it('rotary embedding rotates pairs (i, i + D/2) by position-dependent angles', async () => {
    const T = 3
    const D = 4
    const { cos, sin } = ropeTables(T, D)
    const x = randomArray(T * D, 3)
    const g = (xs: Tensor) => rope(xs, constant(xs.graph, cos, [T, D]), constant(xs.graph, sin, [T, D]))
    const y = await evaluate([[1, 1, T, D]], [x], g)
    for (let t = 0; t < T; t++) {
      for (let i = 0; i < D / 2; i++) {
        const angle = t / 10000 ** ((2 * i) / D)
        const [a, b] = [x[t * D + i]!, x[t * D + i + D / 2]!]
        expect(y[t * D + i]).toBeCloseTo(a * Math.cos(angle) - b * Math.sin(angle), 12)
        expect(y[t * D + i + D / 2]).toBeCloseTo(b * Math.cos(angle) + a * Math.sin(angle), 12)
      }
    }
  })

  it('causal attention with grouped query heads', async () => {
    const [B, H, Hkv, T, D] = [1, 4, 2, 3, 2]
    const q = randomArray(B * H * T * D, 4)
    const k = randomArray(B * Hkv * T * D, 5)
    const v = randomArray(B * Hkv * T * D, 6)
    const y = await evaluate(
      [[B, H, T, D], [B, Hkv, T, D], [B, Hkv, T, D]],
      [q, k, v],
      (a, b, c) => causalAttention(a, b, c, { heads: H, kvHeads: Hkv, headDim: D }),
    )
    for (let h = 0; h < H; h++) {
      const kvh = Math.floor(h / (H / Hkv)) // query heads share kv heads in consecutive groups
      for (let i = 0; i < T; i++) {
        const scores = Array.from({ length: i + 1 }, (_, j) => {
          let s = 0
          for (let d = 0; d < D; d++) s += q[(h * T + i) * D + d]! * k[(kvh * T + j) * D + d]!
          return s / Math.sqrt(D)
        })
        const max = Math.max(...scores)
        const weights = scores.map((s) => Math.exp(s - max))
        const total = weights.reduce((a, b) => a + b, 0)
        for (let d = 0; d < D; d++) {
          const expected = weights.reduce((acc, w, j) => acc + (w / total) * v[(kvh * T + j) * D + d]!, 0)
          // ONNX Runtime fuses the 1/√D scale into MatMul as a float32 attribute
          // (MatMulScaleFusion), so agreement is ~1e-9 rather than float64's 1e-15.
          expect(y[(h * T + i) * D + d]).toBeCloseTo(expected, 8)
        }
      }
    }
  })
})

describe('LLaMA blocks: gradients against finite differences (float64)', () => {
  it('RMSNorm, with respect to input and weight', async () => {
    await gradcheck([{ shape: [2, 3, 4] }, { shape: [4] }], (x, w) => rmsNorm(x, w, 1e-6))
  })

  it('rotary embedding', async () => {
    const { cos, sin } = ropeTables(3, 4)
    await gradcheck([{ shape: [1, 2, 3, 4] }], (x) => rope(x, constant(x.graph, cos, [3, 4]), constant(x.graph, sin, [3, 4])))
  })

  it('causal attention with GQA, with respect to q, k and v', async () => {
    await gradcheck([{ shape: [1, 4, 3, 2] }, { shape: [1, 2, 3, 2] }, { shape: [1, 2, 3, 2] }], (q, k, v) =>
      causalAttention(q, k, v, { heads: 4, kvHeads: 2, headDim: 2 }),
    )
  })

  it('SwiGLU MLP', async () => {
    await gradcheck([{ shape: [2, 3] }, { shape: [3, 4] }, { shape: [3, 4] }, { shape: [4, 3] }], (x, a, b, c) => swiglu(x, a, b, c))
  })

  it('a whole pre-norm decoder block, with respect to its input and every weight', async () => {
    const [d, H, Hkv, D, f, T] = [4, 2, 1, 2, 5, 3]
    const { cos, sin } = ropeTables(T, D)
    const specs = [[1, T, d], [d], [d, H * D], [d, Hkv * D], [d, Hkv * D], [H * D, d], [d], [d, f], [d, f], [f, d]].map((shape) => ({ shape }))
    const result = await gradcheck(specs, (x, attnNorm, q, k, v, o, mlpNorm, gate, up, down) =>
      transformerBlock(
        x!,
        { attnNorm: attnNorm!, q: q!, k: k!, v: v!, o: o!, mlpNorm: mlpNorm!, gate: gate!, up: up!, down: down! },
        { heads: H, kvHeads: Hkv, headDim: D, rmsNormEps: 1e-6 },
        constant(x!.graph, cos, [T, D]),
        constant(x!.graph, sin, [T, D]),
      ),
    )
    expect(result.checked).toBe(specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0))
  })
})
