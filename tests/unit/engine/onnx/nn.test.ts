import { describe, expect, it } from 'vitest'
import { grad } from '../../../../src-main/engine/onnx/autodiff'
import { Graph } from '../../../../src-main/engine/onnx/graph'
import { reduceSum } from '../../../../src-main/engine/onnx/ops/basic'
import { causalMask, logSoftmax, silu, softmax } from '../../../../src-main/engine/onnx/ops/nn'
import type { Shape } from '../../../../src-main/engine/onnx/shape'
import { toModelProto } from '../../../../src-main/engine/onnx/serialize'
import { loadSession, tensor } from '../../../../src-main/engine/onnx/session'
import { gradcheck } from './gradcheck'

describe('softmax, log-softmax and SiLU gradients (float64, central differences)', () => {
  it('softmax along the last axis and along an inner one', async () => {
    await gradcheck([{ shape: [2, 3, 4] }], (x) => softmax(x))
    await gradcheck([{ shape: [2, 3, 4], range: [-3, 3] }], (x) => softmax(x, 1))
  })

  it('log-softmax along the last axis and along the first', async () => {
    await gradcheck([{ shape: [2, 3, 4] }], (x) => logSoftmax(x, -1))
    await gradcheck([{ shape: [3, 4], range: [-3, 3] }], (x) => logSoftmax(x, 0))
  })

  it('SiLU', async () => {
    await gradcheck([{ shape: [2, 5], range: [-4, 4] }], (x) => silu(x))
  })
})

describe('causal mask', () => {
  // Which keys each query may see: query i sees keys j ≤ i + (T_k − T_q).
  const visible = (tq: number, tk: number) => Array.from({ length: tq * tk }, (_, n) => n % tk <= Math.floor(n / tk) + tk - tq)

  it('attention weights get the gradient through unmasked scores only (prefill, T_q = T_k)', async () => {
    await gradcheck([{ shape: [2, 3, 3], range: [-2, 2] }], (x) => softmax(causalMask(x)))
  })

  it('attention weights get the gradient through unmasked scores only (decode, T_q < T_k)', async () => {
    await gradcheck([{ shape: [2, 2, 4], range: [-2, 2] }], (x) => softmax(causalMask(x)))
  })

  /** Runs causalMask on scores 1..n of `shape`, fed as [tq, tk], returning scores and d(Σ masked)/d scores. */
  async function maskAndGradient(shape: Shape, tq: number, tk: number) {
    const g = new Graph()
    const x = g.input('x', 'float64', shape)
    const y = causalMask(x)
    const [dx] = grad(reduceSum(y, [0, 1]), [x])
    g.output(y, 'y')
    g.output(dx!, 'dx')
    const { session } = await loadSession(toModelProto(g))
    const xv = Float64Array.from({ length: tq * tk }, (_, i) => i + 1)
    const out = await session.run({ x: tensor('float64', xv, [tq, tk]) })
    await session.release()
    return { x: Array.from(xv), y: Array.from(out.y!.data as Float64Array), dx: Array.from(out.dx!.data as Float64Array) }
  }

  for (const [label, shape, tq, tk] of [
    ['static, T_q = T_k', [3, 3], 3, 3],
    ['static, T_q < T_k', [2, 4], 2, 4],
    ['symbolic, one length', ['seq', 'seq'], 3, 3],
    ['symbolic, T_q < T_k', ['q', 'k'], 2, 4],
    ['symbolic keys, static queries', [1, 'k'], 1, 5],
  ] as const) {
    it(`hides future keys and passes the gradient only through visible scores (${label})`, async () => {
      const { x, y, dx } = await maskAndGradient(shape, tq, tk)
      const seen = visible(tq, tk)
      expect(y).toEqual(x.map((v, n) => (seen[n] ? v : -1e9)))
      expect(dx).toEqual(seen.map((s) => (s ? 1 : 0)))
    })
  }

  it('refuses more queries than keys', () => {
    const g = new Graph()
    expect(() => causalMask(g.input('s', 'float32', [4, 3]))).toThrow(/query length 4 exceeds key length 3/)
  })
})

describe('nn shape errors name the problem', () => {
  it('refuses an axis out of range and an integer input', () => {
    const g = new Graph()
    expect(() => softmax(g.input('x', 'float32', [2, 3]), 2)).toThrow(/Softmax node "Softmax": axis 2 is out of range for rank 2/)
    expect(() => logSoftmax(g.input('i', 'int64', [2]))).toThrow(/LogSoftmax node .*needs a float tensor, got int64/)
  })
})
