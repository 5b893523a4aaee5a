/**
 * Token cross-entropy: the mean over counted targets of −log softmax(logits)[target],
 * as one op with a hand-written gradient, because the logits are the largest
 * tensor in LLM training ([tokens, vocabulary]) and a composed
 * log-softmax/gather graph would keep several copies of that size alive.
 */
import { isFloat } from '../dtype'
import { GraphError } from '../errors'
import type { Tensor, TensorInfo } from '../graph'
import type { OpDef } from '../op'
import { broadcastShapes, formatShape, sameDim, sameShape, type Dim } from '../shape'
import { cast, div, mul, neg, reduceSum, reshape } from './basic'
import { scatterAdd, where } from './indexing'
import { flatten } from './matmul'
import { softmax } from './nn'

interface CrossEntropyParams {
  ignoreIndex: number
}

/**
 * Σ over counted rows of −log softmax(logits[n])[targets[n]], for logits [N, V]
 * and targets [N]. ONNX's own SoftmaxCrossEntropyLoss, with reduction 'sum':
 * its 'mean' divides by the number of counted targets and returns NaN when
 * every target is ignored (0/0), so the division is done outside, guarded.
 */
const summedCrossEntropyDef: OpDef<CrossEntropyParams> = {
  type: 'SoftmaxCrossEntropyLoss',
  infer: ([logits, targets]) => {
    if (!isFloat(logits!.dtype)) throw new Error(`logits must be float, got ${logits!.dtype}`)
    if (targets!.dtype !== 'int64') throw new Error(`targets must be int64, got ${targets!.dtype}`)
    if (logits!.shape.length !== 2 || targets!.shape.length !== 1 || !sameDim(logits!.shape[0]!, targets!.shape[0]!)) {
      throw new Error(`needs logits [N, V] and targets [N], got ${formatShape(logits!.shape)} and ${formatShape(targets!.shape)}`)
    }
    return [{ dtype: logits!.dtype, shape: [] }]
  },
  attrs: ({ ignoreIndex }) => ({ reduction: { string: 'sum' }, ignore_index: { int: ignoreIndex } }),
  // d logits[n] = (softmax(logits[n]) − onehot(targets[n])) · g, and 0 for an
  // ignored row. Built so that at most two [N, V] tensors exist at any step
  // (besides the logits): softmax → scale each row (ignored rows by 0) →
  // scatter-add −scale at the target column. The forward's optional
  // log-prob output is not kept for this: it would hold an [N, V] tensor from
  // the forward pass to the backward; recomputing softmax is one cheap pass.
  // An ignored row's target (e.g. −100) is not a valid column, so its index
  // is clamped to 0, where it adds −0.
  grad: ({ inputs: [logits, targets], params: { ignoreIndex }, dOutputs: [g] }) => [crossEntropyLogitsGrad(logits!, targets!, g!, ignoreIndex), undefined],
}

/** Σ over counted rows of −log softmax(logits[n])[targets[n]], logits [N, V], int64 targets [N] (see summedCrossEntropyDef). */
export function summedCrossEntropy(logits: Tensor, targets: Tensor, ignoreIndex: number): Tensor {
  return logits.graph.apply(summedCrossEntropyDef, [logits, targets], { ignoreIndex })[0]!
}

/** How many of `targets` are counted (≠ ignoreIndex), in `dtype`. */
export function countedTargets(targets: Tensor, ignoreIndex: number, dtype: Tensor['dtype']): Tensor {
  return reduceSum(where(isIgnored(targets, ignoreIndex), 0, targets.graph.scalar(1, dtype)), [0])
}

/**
 * d(Σ_n scale · CE_n)/d logits for logits [N, V], int64 targets [N] and a
 * scalar `scale`: (softmax(logits[n]) − onehot(targets[n])) · scale, 0 for
 * ignored rows, with at most two [N, V] tensors alive at once (see above).
 */
export function crossEntropyLogitsGrad(logits: Tensor, targets: Tensor, scale: Tensor, ignoreIndex: number): Tensor {
  const rows = logits.shape[0]!
  const ignored = isIgnored(targets, ignoreIndex)
  const rowScale = reshape(where(ignored, 0, scale), [rows, 1], logits)
  const column = reshape(where(ignored, 0, targets), [rows, 1], logits)
  const scaledProbs = mul(softmax(logits, -1), rowScale)
  return scatterAdd(scaledProbs, column, neg(rowScale), 1)
}

export interface CrossEntropyOptions {
  /** Targets equal to this are not counted (padding, prompt tokens). */
  ignoreIndex?: number
}

export interface CrossEntropy {
  /** Σ token losses ÷ number of counted tokens; 0 (not NaN) when none is counted. */
  readonly loss: Tensor
  /** Number of counted tokens, in the logits' float dtype. */
  readonly count: Tensor
}

/** Mean token cross-entropy of logits [N, V] or [B, T, V] against int targets [N] or [B, T]. */
export function crossEntropy(logits: Tensor, targets: Tensor, { ignoreIndex = -100 }: CrossEntropyOptions = {}): CrossEntropy {
  if (targets.dtype !== 'int64' && targets.dtype !== 'int32') {
    throw new GraphError('crossEntropy', targets.name, `targets must be int64 or int32, got ${targets.dtype}`)
  }
  if (logits.rank < 2 || !sameShape(targets.shape, logits.shape.slice(0, -1))) {
    throw new GraphError(
      'crossEntropy',
      logits.name,
      `targets ${formatShape(targets.shape)} must have the shape of logits ${formatShape(logits.shape)} without its last (vocabulary) axis`,
    )
  }
  // SoftmaxCrossEntropyLoss wants classes on axis 1; rows of [B, T, V] become [B·T, V].
  const rows = logits.rank === 2 ? logits : flatten(logits, logits.rank - 1)
  const labels = targets.rank === 1 ? cast(targets, 'int64') : toVector(cast(targets, 'int64'), rows.shape[0]!)
  const total = summedCrossEntropy(rows, labels, ignoreIndex)
  const count = countedTargets(labels, ignoreIndex, logits.dtype)
  return { loss: div(total, atLeastOne(count)), count }
}

/** max(count, 1): the divisor of a mean over counted tokens that is 0, not NaN, when none is counted. */
export function atLeastOne(count: Tensor): Tensor {
  return max(count, count.graph.scalar(1, count.dtype))
}

// ------------------------------------------------------------------ small private ops (no gradients)

const equalDef: OpDef<void> = {
  type: 'Equal',
  infer: ([a, b]) => {
    if (a!.dtype !== b!.dtype) throw new Error(`dtypes differ: ${a!.dtype} vs ${b!.dtype}`)
    const shape = broadcastShapes(a!.shape, b!.shape)
    if (!shape) throw new Error(`shapes ${formatShape(a!.shape)} and ${formatShape(b!.shape)} do not broadcast`)
    return [{ dtype: 'bool', shape }]
  },
}

function isIgnored(targets: Tensor, ignoreIndex: number): Tensor {
  return targets.graph.apply(equalDef, [targets, targets.graph.scalar(ignoreIndex, targets.dtype)], undefined)[0]!
}

const maxDef: OpDef<void> = {
  type: 'Max',
  infer: ([a, b]): TensorInfo[] => {
    if (a!.dtype !== b!.dtype) throw new Error(`dtypes differ: ${a!.dtype} vs ${b!.dtype}`)
    const shape = broadcastShapes(a!.shape, b!.shape)
    if (!shape) throw new Error(`shapes ${formatShape(a!.shape)} and ${formatShape(b!.shape)} do not broadcast`)
    return [{ dtype: a!.dtype, shape }]
  },
}

function max(a: Tensor, b: Tensor): Tensor {
  return a.graph.apply(maxDef, [a, b], undefined)[0]!
}

/** Reshape to one axis of `length` (which may be a product name like 'batch*seq'). */
const toVectorDef: OpDef<{ length: Dim }> = {
  type: 'Reshape',
  infer: ([x, shape], { length }) => {
    if (shape!.dtype !== 'int64') throw new Error('shape must be int64')
    return [{ dtype: x!.dtype, shape: [length] }]
  },
}

function toVector(x: Tensor, length: Dim): Tensor {
  return x.graph.apply(toVectorDef, [x, x.graph.int64s([-1])], { length })[0]!
}
