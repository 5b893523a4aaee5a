import { describe, expect, it } from 'vitest'
import { grad } from '../../../../src-main/engine/onnx/autodiff'
import { Graph } from '../../../../src-main/engine/onnx/graph'
import { reduceSum } from '../../../../src-main/engine/onnx/ops/basic'
import { gather, gatherElements, scatterAdd, where } from '../../../../src-main/engine/onnx/ops/indexing'
import { toModelProto } from '../../../../src-main/engine/onnx/serialize'
import { loadSession, tensor } from '../../../../src-main/engine/onnx/session'
import { gradcheck } from './gradcheck'

const int64 = (values: number[]) => BigInt64Array.from(values.map(BigInt))

describe('gather gradients (float64, central differences)', () => {
  it('an embedding lookup [V, D] × [B, T] accumulates repeated token ids', async () => {
    const ids = int64([1, 1, 4, 0, 1, 4])
    const result = await gradcheck([{ shape: [5, 3] }, { shape: [2, 3], dtype: 'int64', data: ids }], (table, i) => gather(table, i))
    // Row 1 is read three times, row 4 twice, rows 2 and 3 never.
    expect(result.checked).toBe(15)
  })

  it('along an inner axis, with negative and int32 indices', async () => {
    await gradcheck([{ shape: [2, 5, 3] }, { shape: [2, 2], dtype: 'int64', data: int64([3, 0, 3, -1]) }], (x, i) => gather(x, i, 1))
    await gradcheck([{ shape: [3, 4] }, { shape: [3], dtype: 'int32', data: Int32Array.from([2, 2, 0]) }], (x, i) => gather(x, i, -1))
  })

  it('with a scalar index, which drops the axis', async () => {
    await gradcheck([{ shape: [4, 3] }, { shape: [], dtype: 'int64', data: int64([2]) }], (x, i) => gather(x, i))
  })

  it('the embedding gradient equals a count of each id times the upstream gradient', async () => {
    const g = new Graph()
    const table = g.input('table', 'float64', [4, 2])
    const ids = g.input('ids', 'int64', ['batch', 'seq'])
    const [dTable] = grad(reduceSum(gather(table, ids), [0, 1, 2]), [table])
    g.output(dTable!, 'dTable')
    const { session } = await loadSession(toModelProto(g))
    const out = await session.run({ table: tensor('float64', new Float64Array(8), [4, 2]), ids: tensor('int64', int64([3, 3, 3, 0, 1, 3]), [2, 3]) })
    await session.release()
    expect(Array.from(out.dTable!.data as Float64Array)).toEqual([1, 1, 1, 1, 0, 0, 4, 4])
  })
})

describe('gatherElements and scatterAdd gradients (float64, central differences)', () => {
  it('gatherElements along the last axis, repeated indices accumulate', async () => {
    const idx = int64([0, 0, 3, 1, 2, 2])
    await gradcheck([{ shape: [3, 4] }, { shape: [3, 2], dtype: 'int64', data: idx }], (x, i) => gatherElements(x, i, 1))
  })

  it('gatherElements along the first axis', async () => {
    const idx = int64([2, 0, 2, 2])
    await gradcheck([{ shape: [3, 2] }, { shape: [2, 2], dtype: 'int64', data: idx }], (x, i) => gatherElements(x, i, 0))
  })

  it('scatterAdd with respect to the data and the updates', async () => {
    const idx = int64([1, 1, 0, 3])
    await gradcheck([{ shape: [2, 4] }, { shape: [2, 2], dtype: 'int64', data: idx }, { shape: [2, 2] }], (x, i, u) => scatterAdd(x, i, u, 1))
  })
})

describe('where', () => {
  it('sends the gradient to the chosen branch, summed to each branch’s shape', async () => {
    const cond = Uint8Array.from([1, 0, 1])
    await gradcheck([{ shape: [3], dtype: 'bool', data: cond }, { shape: [2, 3] }, { shape: [1] }], (c, a, b) => where(c, a, b))
    await gradcheck([{ shape: [2, 1], dtype: 'bool', data: Uint8Array.from([0, 1]) }, { shape: [3] }, { shape: [2, 3] }], (c, a, b) => where(c, a, b))
  })

  it('takes a number for either branch and computes no gradient for a constant', () => {
    const g = new Graph()
    const c = g.input('c', 'bool', [3])
    const x = g.input('x', 'float32', [3])
    const y = where(c, x, -1)
    expect(y.dtype).toBe('float32')
    const before = g.nodes.length
    grad(reduceSum(y, [0]), [x])
    // Only the gradient for x: one Where (plus the reduction's own backward).
    expect(g.nodes.slice(before).filter((n) => n.def.type === 'Where')).toHaveLength(1)
  })
})

describe('indexing shape errors name the problem', () => {
  it('refuses float indices, a mismatched rank, a non-bool condition', () => {
    const g = new Graph()
    const x = g.input('x', 'float32', [4, 3])
    expect(() => gather(x, g.input('f', 'float32', [2]))).toThrow(/Gather node "Gather": indices must be int64 or int32, got float32/)
    expect(() => gather(x, g.input('i', 'int64', [2]), 2)).toThrow(/axis 2 is out of range for rank 2/)
    expect(() => gatherElements(x, g.input('j', 'int64', [2]), 0)).toThrow(/indices \[2\] must have the rank of data \[4, 3\]/)
    expect(() => where(x, x, x)).toThrow(/Where node "Where": condition must be bool, got float32/)
  })
})
