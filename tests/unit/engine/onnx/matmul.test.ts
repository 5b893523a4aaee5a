import { describe, expect, it } from 'vitest'
import { grad } from '../../../../src-main/engine/onnx/autodiff'
import { Graph, type Tensor } from '../../../../src-main/engine/onnx/graph'
import { reduceSum } from '../../../../src-main/engine/onnx/ops/basic'
import { matmul } from '../../../../src-main/engine/onnx/ops/matmul'
import { toModelProto } from '../../../../src-main/engine/onnx/serialize'
import { loadSession, tensor } from '../../../../src-main/engine/onnx/session'
import { gradcheck } from './gradcheck'

describe('matmul gradients (float64, central differences)', () => {
  it('2-D', async () => {
    await gradcheck([{ shape: [3, 4] }, { shape: [4, 2] }], (a, b) => matmul(a, b))
  })

  it('batched, as attention scores [B, H, T, D] × [B, H, D, T]', async () => {
    await gradcheck([{ shape: [2, 2, 3, 2] }, { shape: [2, 2, 2, 3] }], (a, b) => matmul(a, b))
  })

  it('batch dims that broadcast are summed back to each operand', async () => {
    // [2, 1] and [2] batches broadcast to [2, 2].
    await gradcheck([{ shape: [2, 1, 3, 2] }, { shape: [2, 2, 3] }], (a, b) => matmul(a, b))
  })

  it('a linear layer [B, T, D] × [D, E], and a weight with leading unit dims', async () => {
    await gradcheck([{ shape: [2, 3, 4] }, { shape: [4, 2] }], (a, b) => matmul(a, b))
    await gradcheck([{ shape: [3, 2] }, { shape: [1, 1, 2, 3] }], (a, b) => matmul(a, b))
  })

  it('vectors: a row vector on the left, a column vector on the right', async () => {
    await gradcheck([{ shape: [4] }, { shape: [4, 3] }], (a, b) => matmul(a, b))
    await gradcheck([{ shape: [2, 3, 4] }, { shape: [4] }], (a, b) => matmul(a, b))
  })
})

describe('matmul backward structure', () => {
  it('computes a linear layer’s weight gradient as one 2-D product, with no batched product or ReduceSum', () => {
    const g = new Graph()
    const x = g.input('x', 'float32', ['batch', 'seq', 8])
    const w = g.input('w', 'float32', [8, 16])
    const loss = reduceSum(matmul(x, w), [0, 1, 2])
    const forward = g.nodes.length
    const [, dw] = grad(loss, [x, w])
    const backward = g.nodes.slice(forward)
    const products = backward.filter((n) => n.def.type === 'MatMul' || n.def.type === 'Gemm')
    expect(products).toHaveLength(2)
    expect(backward.some((n) => n.def.type === 'ReduceSum' || n.def.type === 'Transpose')).toBe(false)
    // dW is produced directly by one Gemm reading [batch·seq, 8]ᵀ × [batch·seq, 16].
    const weightProduct = dw!.producer!
    expect(weightProduct.def.type).toBe('Gemm')
    expect(weightProduct.inputs.map((t) => t!.shape)).toEqual([
      ['batch*seq', 8],
      ['batch*seq', 16],
    ])
  })
})

describe('matmul with symbolic dims', () => {
  it('keeps symbolic batch dims and runs for any batch and sequence length', async () => {
    const g = new Graph()
    const x = g.input('x', 'float64', ['batch', 'seq', 2])
    const w = g.input('w', 'float64', [2, 3])
    const y = matmul(x, w)
    expect(y.shape).toEqual(['batch', 'seq', 3])
    // loss = Σ y, so dW[k][n] = Σ_rows x[row][k] and dX[row][k] = Σ_n W[k][n].
    const [dx, dw] = grad(reduceSum(y, [0, 1, 2]), [x, w])
    g.output(y, 'y')
    g.output(dx!, 'dx')
    g.output(dw!, 'dw')
    const { session } = await loadSession(toModelProto(g))
    const wv = Float64Array.from([1, 2, 3, 4, 5, 6])
    for (const [batch, seq] of [
      [1, 1],
      [2, 3],
    ] as const) {
      const rows = batch * seq
      const xv = Float64Array.from({ length: rows * 2 }, (_, i) => i + 1)
      const out = await session.run({ x: tensor('float64', xv, [batch, seq, 2]), w: tensor('float64', wv, [2, 3]) })
      expect(out.y!.dims).toEqual([batch, seq, 3])
      const column = (k: number) => Array.from({ length: rows }, (_, r) => xv[r * 2 + k]!).reduce((s, v) => s + v, 0)
      expect(Array.from(out.dw!.data as Float64Array)).toEqual([0, 0, 0, 1, 1, 1].map((k) => column(k)))
      expect(Array.from(out.dx!.data as Float64Array)).toEqual(Array.from({ length: rows }, () => [6, 15]).flat())
    }
    await session.release()
  })
})

describe('matmul shape errors name the problem', () => {
  const inputs = (a: (number | string)[], b: (number | string)[]): [Tensor, Tensor] => {
    const g = new Graph()
    return [g.input('a', 'float32', a), g.input('b', 'float32', b)]
  }

  it('refuses inner dims that differ', () => {
    expect(() => matmul(...inputs([2, 3], [4, 5]))).toThrow(/MatMul node "MatMul": inner dims differ: \[2, 3\] × \[4, 5\] contracts 3 with 4/)
    expect(() => matmul(...inputs([2, 'd'], ['e', 5]))).toThrow(/contracts d with e/)
  })

  it('refuses batch dims that do not broadcast', () => {
    expect(() => matmul(...inputs([2, 3, 4], [3, 4, 5]))).toThrow(/batch dims \[2\] and \[3\] do not broadcast/)
  })

  it('refuses integer operands', () => {
    const g = new Graph()
    expect(() => matmul(g.input('a', 'int64', [2, 2]), g.input('b', 'int64', [2, 2]))).toThrow(/needs float tensors, got int64/)
  })
})
