import { describe, expect, it } from 'vitest'
import { Graph } from '../../../../src-main/engine/onnx/graph'
import * as op from '../../../../src-main/engine/onnx/ops/basic'
import { gradcheck } from './gradcheck'

describe('gradients of elementwise ops (float64, central differences)', () => {
  it('Add, Sub, Mul, Div with broadcasting sum gradients back to each input shape', async () => {
    await gradcheck([{ shape: [2, 3, 4] }, { shape: [3, 1] }], (a, b) => op.add(a, b))
    await gradcheck([{ shape: [2, 3, 4] }, { shape: [4] }], (a, b) => op.sub(a, b))
    await gradcheck([{ shape: [1, 3, 4] }, { shape: [2, 1, 4] }], (a, b) => op.mul(a, b))
    await gradcheck([{ shape: [2, 3] }, { shape: [3], range: [0.5, 2] }], (a, b) => op.div(a, b))
  })

  it('Pow with respect to base and exponent', async () => {
    await gradcheck([{ shape: [2, 3], range: [0.5, 2] }, { shape: [3] }], (a, b) => op.pow(a, b))
    await gradcheck([{ shape: [5], range: [0.5, 2] }], (a) => op.pow(a, 2))
  })

  it('Neg, Exp, Log, Sqrt, Reciprocal, Sigmoid', async () => {
    await gradcheck([{ shape: [6] }], (x) => op.neg(x))
    await gradcheck([{ shape: [6] }], (x) => op.exp(x))
    await gradcheck([{ shape: [6], range: [0.5, 3] }], (x) => op.log(x))
    await gradcheck([{ shape: [6], range: [0.5, 3] }], (x) => op.sqrt(x))
    await gradcheck([{ shape: [6], range: [0.5, 3] }], (x) => op.reciprocal(x))
    await gradcheck([{ shape: [2, 3] }], (x) => op.sigmoid(x))
  })

  it('ReduceSum and ReduceMean over some axes, with and without keepdims', async () => {
    await gradcheck([{ shape: [2, 3, 4] }], (x) => op.reduceSum(x, [1]))
    await gradcheck([{ shape: [2, 3, 4] }], (x) => op.reduceMean(x, [0, 2], true))
    await gradcheck([{ shape: [2, 3, 4] }], (x) => op.reduceMean(x, [-1]))
  })

  it('Reshape and Expand', async () => {
    await gradcheck([{ shape: [2, 6] }], (x) => op.reshape(x, [3, 4]))
    await gradcheck([{ shape: [3, 1] }], (x) => op.expand(x, [2, 3, 5]))
  })

  it('accumulates the gradient of a tensor used several times', async () => {
    // y = x·x + exp(x) + x: three uses of x
    const result = await gradcheck([{ shape: [4] }], (x) => op.add(op.add(op.mul(x, x), op.exp(x)), x))
    expect(result.checked).toBe(4)
  })

  it('handles symbolic dims through reshape and reductions', async () => {
    // The harness feeds concrete shapes; the graph is built with a symbolic batch dim.
    const g = new Graph()
    const x = g.input('x', 'float64', ['batch', 3])
    const y = op.reduceMean(op.reshape(x, ['batch', 3, 1]), [1])
    expect(y.shape).toEqual(['batch', 1])
  })
})

describe('graph building errors name the node', () => {
  it('refuses shapes that do not broadcast', () => {
    const g = new Graph()
    const a = g.input('a', 'float32', [2, 3])
    const b = g.input('b', 'float32', [4])
    expect(() => g.scope('layer0', () => op.add(a, b))).toThrow(/Add node "layer0\/Add": shapes \[2, 3\] and \[4\] do not broadcast/)
  })

  it('refuses mixed dtypes', () => {
    const g = new Graph()
    const a = g.input('a', 'float32', [2])
    const b = g.input('b', 'float64', [2])
    expect(() => op.mul(a, b)).toThrow(/Mul node "Mul": dtypes differ: float32 vs float64/)
  })

  it('refuses a reshape that changes the element count', () => {
    const g = new Graph()
    const a = g.input('a', 'float32', [2, 3])
    expect(() => op.reshape(a, [4, 2])).toThrow(/Reshape node .*6 elements/)
  })

  it('refuses a symbolic dim that broadcasts against another', () => {
    const g = new Graph()
    const a = g.input('a', 'float32', ['n', 3])
    const b = g.input('b', 'float32', ['m', 3])
    expect(() => op.add(a, b)).toThrow(/do not broadcast/)
  })
})
