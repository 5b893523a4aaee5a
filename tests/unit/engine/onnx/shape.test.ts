import { describe, expect, it } from 'vitest'
import { grad } from '../../../../src-main/engine/onnx/autodiff'
import { Graph, type Tensor } from '../../../../src-main/engine/onnx/graph'
import { mul, reduceSum } from '../../../../src-main/engine/onnx/ops/basic'
import { concat, slice, split, squeeze, transpose, unsqueeze } from '../../../../src-main/engine/onnx/ops/shape'
import { toModelProto } from '../../../../src-main/engine/onnx/serialize'
import { loadSession, tensor } from '../../../../src-main/engine/onnx/session'
import { gradcheck } from './gradcheck'

describe('gradients of shape ops (float64, central differences)', () => {
  it('Transpose, with a given and with the default (reversed) permutation', async () => {
    await gradcheck([{ shape: [2, 3, 4] }], (x) => transpose(x, [1, 2, 0]))
    await gradcheck([{ shape: [2, 3] }], (x) => transpose(x))
  })

  it('Slice with negative, clamped and open bounds on several axes', async () => {
    await gradcheck([{ shape: [4, 5] }], (x) => slice(x, { starts: [1, -4], ends: [3, Infinity] }))
    await gradcheck([{ shape: [3, 4] }], (x) => slice(x, { starts: [0], ends: [-1], axes: [-1] }))
    await gradcheck([{ shape: [3, 4] }], (x) => slice(x, { starts: [-100], ends: [100], axes: [0] }))
  })

  it('Slice with steps > 1 (gradient spreads zeros between the taken elements)', async () => {
    await gradcheck([{ shape: [7, 2] }], (x) => slice(x, { starts: [1], ends: [7], axes: [0], steps: [2] }))
    await gradcheck([{ shape: [2, 8] }], (x) => slice(x, { starts: [0, 2], ends: [2, -1], axes: [0, 1], steps: [1, 3] }))
  })

  it('Concat along an axis, the gradient split back by the parts’ sizes', async () => {
    await gradcheck([{ shape: [2, 1] }, { shape: [2, 3] }, { shape: [2, 2] }], (a, b, c) => concat([a, b, c], -1))
  })

  it('Split by sizes and into equal parts; outputs off the loss get zero gradient', async () => {
    await gradcheck([{ shape: [2, 6] }], (x) => split(x, [1, 3, 2], 1))
    await gradcheck([{ shape: [6, 2] }], (x) => split(x, 3))
    await gradcheck([{ shape: [2, 6] }], (x) => split(x, [1, 3, 2], 1)[1]!)
  })

  it('Unsqueeze and Squeeze', async () => {
    await gradcheck([{ shape: [2, 3] }], (x) => unsqueeze(x, [0, -1]))
    await gradcheck([{ shape: [2, 1, 3, 1] }], (x) => squeeze(x, [1, 3]))
  })
})

describe('shape rules with symbolic dims', () => {
  const graph = () => new Graph()

  it('carries symbolic dims through transpose, unsqueeze and squeeze', () => {
    const x = graph().input('x', 'float32', ['batch', 'seq', 8])
    expect(transpose(x, [1, 0, 2]).shape).toEqual(['seq', 'batch', 8])
    expect(unsqueeze(x, [1]).shape).toEqual(['batch', 1, 'seq', 8])
    expect(squeeze(unsqueeze(x, [-1]), [3]).shape).toEqual(['batch', 'seq', 8])
  })

  it('names a slice of a symbolic axis by its length, so shifted sequences agree', () => {
    const x = graph().input('x', 'float32', ['batch', 'seq'])
    const at = (start: number, end: number) => slice(x, { starts: [start], ends: [end], axes: [1] }).shape[1]
    expect(at(0, Infinity)).toBe('seq')
    expect(at(1, Infinity)).toBe('seq-1')
    expect(at(0, -1)).toBe('seq-1')
    expect(at(2, -3)).toBe('seq-5')
    expect(at(0, 4)).toBe(4)
    expect(at(-1, Infinity)).toBe(1)
    expect(at(-4, -1)).toBe(3)
  })

  it('names a concat along a symbolic axis by the sum of its parts', () => {
    const g = graph()
    const past = g.input('past', 'float32', ['past', 4])
    const now = g.input('now', 'float32', ['seq', 4])
    expect(concat([past, now], 0).shape).toEqual(['past+seq', 4])
    expect(concat([now, g.input('one', 'float32', [1, 4])], 0).shape).toEqual(['seq+1', 4])
  })
})

describe('shape errors name the node', () => {
  it('refuses a slice whose length is unknown while building', () => {
    const x = new Graph().input('x', 'float32', ['seq'])
    expect(() => slice(x, { starts: [-3], ends: [2] })).toThrow(/Slice node "Slice": slice \[-3:2\] of the symbolic dim "seq" has no length known/)
    expect(() => slice(x, { starts: [0], ends: [Infinity], steps: [2] })).toThrow(/a step of 2 on the symbolic dim "seq" is not supported/)
  })

  it('refuses steps below 1 and a wrong permutation', () => {
    const x = new Graph().input('x', 'float32', [4, 3])
    expect(() => slice(x, { starts: [3], ends: [0], steps: [-1] })).toThrow(/step -1 is not supported/)
    expect(() => transpose(x, [0, 0])).toThrow(/Transpose node "Transpose": perm \[0, 0\] is not a permutation of the 2 axes/)
  })

  it('refuses concat parts that differ off the axis, and splits that do not add up', () => {
    const g = new Graph()
    const a = g.input('a', 'float32', [2, 3])
    expect(() => concat([a, g.input('b', 'float32', [3, 3])], 1)).toThrow(/Concat node .*differ outside axis 1/)
    expect(() => split(a, [1, 1], 1)).toThrow(/Split node .*sizes \[1, 1\] add up to 2, not the dim 3/)
    expect(() => split(a, 2, 1)).toThrow(/dim 3 does not split into 2 equal parts/)
  })

  it('refuses to squeeze an axis that is not of static length 1', () => {
    const x = new Graph().input('x', 'float32', ['batch', 1])
    expect(() => squeeze(x, [0])).toThrow(/Squeeze node "Squeeze": axis 0 has length "batch" \(symbolic\), not 1/)
  })
})

/**
 * Runs y = f(x) and dx = ∂(Σ seed ⊙ y)/∂x on a graph built with symbolic
 * dims, so gradients that read lengths at run time are exercised.
 */
async function runWithSeed(
  inputs: { name: string; shape: (number | string)[]; value: number[]; dims: number[] }[],
  f: (...xs: Tensor[]) => Tensor,
  seedDims: number[],
): Promise<{ y: number[]; grads: number[][] }> {
  const g = new Graph()
  const xs = inputs.map((i) => g.input(i.name, 'float64', i.shape))
  const y = f(...xs)
  const seed = g.input('seed', 'float64', y.shape)
  const grads = grad(y, xs, { seed })
  g.output(y, 'y')
  grads.forEach((d, k) => g.output(d, `d${k}`))
  const { session } = await loadSession(toModelProto(g), { intraOpThreads: 1 })
  const seedValues = Float64Array.from({ length: seedDims.reduce((a, b) => a * b, 1) }, (_, i) => i + 1)
  const feeds = Object.fromEntries(inputs.map((i) => [i.name, tensor('float64', Float64Array.from(i.value), i.dims)]))
  const out = await session.run({ ...feeds, seed: tensor('float64', seedValues, seedDims) })
  await session.release()
  return { y: Array.from(out.y!.data as Float64Array), grads: grads.map((_, k) => Array.from(out[`d${k}`]!.data as Float64Array)) }
}

describe('gradients that read symbolic lengths at run time (ONNX Runtime)', () => {
  const x = { name: 'x', shape: ['n'], value: [10, 11, 12, 13, 14], dims: [5] }

  it('slices from the end of a symbolic axis: pads the gradient back by the runtime length', async () => {
    // x[-3:-1] of n = 5 → elements 2, 3; the seed (1, 2) lands there.
    const r = await runWithSeed([x], (t) => slice(t, { starts: [-3], ends: [-1] }), [2])
    expect(r.y).toEqual([12, 13])
    expect(r.grads[0]).toEqual([0, 0, 1, 2, 0])
  })

  it('slices from the start of a symbolic axis with a static end', async () => {
    const r = await runWithSeed([x], (t) => slice(t, { starts: [1], ends: [3] }), [2])
    expect(r.y).toEqual([11, 12])
    expect(r.grads[0]).toEqual([0, 1, 2, 0, 0])
  })

  it('slices x[1:-1] to the symbolic length n-2', async () => {
    const r = await runWithSeed([x], (t) => slice(t, { starts: [1], ends: [-1] }), [3])
    expect(r.y).toEqual([11, 12, 13])
    expect(r.grads[0]).toEqual([0, 1, 2, 3, 0])
  })

  it('concatenates along a symbolic axis and splits the gradient by the runtime lengths', async () => {
    const a = { name: 'a', shape: ['p', 2], value: [1, 2, 3, 4], dims: [2, 2] }
    const b = { name: 'b', shape: ['s', 2], value: [5, 6], dims: [1, 2] }
    const r = await runWithSeed([a, b], (p, s) => concat([p, s], 0), [3, 2])
    expect(r.y).toEqual([1, 2, 3, 4, 5, 6])
    expect(r.grads).toEqual([
      [1, 2, 3, 4],
      [5, 6],
    ])
  })

  it('composes: the shifted product x[1:]·x[:-1] has the gradient of its two uses', async () => {
    const r = await runWithSeed(
      [x],
      (t) => reduceSum(mul(slice(t, { starts: [1], ends: [Infinity] }), slice(t, { starts: [0], ends: [-1] })), [0]),
      [],
    )
    // y = Σ x[i+1]·x[i]; dy/dx[j] = x[j−1] + x[j+1]
    expect(r.y).toEqual([10 * 11 + 11 * 12 + 12 * 13 + 13 * 14])
    expect(r.grads[0]).toEqual([11, 22, 24, 26, 13])
  })
})
