/**
 * Neural-network building blocks: softmax and log-softmax along one axis
 * (opset 13+ semantics), SiLU, and the causal attention mask.
 */
import { isFloat } from '../dtype'
import type { Tensor, TensorInfo } from '../graph'
import type { OpDef } from '../op'
import { normalizeAxis } from '../shape'
import { exp, expand, mul, reduceSum, reshape, runtimeShape, sigmoid, sub } from './basic'
import { where } from './indexing'

interface AxisParams {
  axis: number
}

function alongAxis([x]: readonly (TensorInfo | undefined)[], { axis }: AxisParams): TensorInfo[] {
  if (!isFloat(x!.dtype)) throw new Error(`needs a float tensor, got ${x!.dtype}`)
  if (normalizeAxis(axis, x!.shape.length) === undefined) throw new Error(`axis ${axis} is out of range for rank ${x!.shape.length}`)
  return [x!]
}

const axisAttrs = ({ axis }: AxisParams) => ({ axis: { int: axis } })

// ------------------------------------------------------------------ softmax

const softmaxDef: OpDef<AxisParams> = {
  type: 'Softmax',
  infer: alongAxis,
  attrs: axisAttrs,
  // dx = y ⊙ (g − Σ_axis g ⊙ y)
  grad: ({ outputs: [y], params: { axis }, dOutputs: [g] }) => [mul(y!, sub(g!, reduceSum(mul(g!, y!), [axis], true)))],
}

export function softmax(x: Tensor, axis = -1): Tensor {
  return x.graph.apply(softmaxDef, [x], { axis })[0]!
}

const logSoftmaxDef: OpDef<AxisParams> = {
  type: 'LogSoftmax',
  infer: alongAxis,
  attrs: axisAttrs,
  // dx = g − softmax(x) · Σ_axis g, with softmax(x) = exp(y)
  grad: ({ outputs: [y], params: { axis }, dOutputs: [g] }) => [sub(g!, mul(exp(y!), reduceSum(g!, [axis], true)))],
}

export function logSoftmax(x: Tensor, axis = -1): Tensor {
  return x.graph.apply(logSoftmaxDef, [x], { axis })[0]!
}

// ------------------------------------------------------------------ SiLU

/** x · sigmoid(x), composed, so its gradient comes from Mul and Sigmoid. */
export function silu(x: Tensor): Tensor {
  return mul(x, sigmoid(x))
}

// ------------------------------------------------------------------ causal mask

const triluLowerDef: OpDef<void> = {
  type: 'Trilu',
  infer: ([x, k]) => {
    if (k!.dtype !== 'int64' || k!.shape.length !== 0) throw new Error('k must be an int64 scalar')
    return [x!]
  },
  attrs: () => ({ upper: { int: 0 } }),
}

/**
 * A score that softmax turns into exactly 0 (exp underflows) while staying
 * finite: sums and products with it (a weighted loss, a later Add) cannot
 * produce inf − inf = NaN. float16's range ends at 65504.
 */
function maskedScore(dtype: string): number {
  return dtype === 'float16' ? -65504 : -1e9
}

/**
 * Hides future keys from attention scores [.., T_q, T_k]: query i sees keys
 * j ≤ i + (T_k − T_q), so when decoding with a cache (T_q < T_k) the queries
 * are the last T_q positions. Hidden scores become a large negative number
 * through Where, so their gradient is exactly zero and the rest pass through.
 *
 * With static lengths the mask is a constant; with symbolic ones it is built
 * at run time with Trilu from the scores' shape.
 */
export function causalMask(scores: Tensor): Tensor {
  const graph = scores.graph
  if (scores.rank < 2) throw new Error(`causalMask needs scores [.., T_q, T_k], got ${scores}`)
  const tq = scores.shape[scores.rank - 2]!
  const tk = scores.shape[scores.rank - 1]!
  let visible: Tensor
  if (typeof tq === 'number' && typeof tk === 'number') {
    if (tq > tk) throw new Error(`causalMask: query length ${tq} exceeds key length ${tk} in ${scores}`)
    const bits = new Uint8Array(tq * tk)
    for (let i = 0; i < tq; i++) for (let j = 0; j <= i + tk - tq; j++) bits[i * tk + j] = 1
    visible = graph.constant(bits, 'bool', [tq, tk])
  } else {
    const all = expand(graph.constant(Uint8Array.of(1), 'bool', []), [tq, tk], scores)
    const offset = tq === tk ? graph.constant(BigInt64Array.of(0n), 'int64', []) : reshape(sub(runtimeShape([tk], scores), runtimeShape([tq], scores)), [])
    visible = graph.apply(triluLowerDef, [all, offset], undefined)[0]!
  }
  return where(visible, scores, maskedScore(scores.dtype))
}
