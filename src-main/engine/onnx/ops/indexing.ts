/**
 * Reading and writing by index: Gather (embedding lookup), GatherElements,
 * scatter-add, and Where. A gather's gradient scatters the output gradient
 * back with reduction 'add' (opset 16+), so an index read several times
 * (the same token twice in a batch) accumulates every contribution.
 */
import { isFloat, type DType } from '../dtype'
import type { Tensor, TensorInfo } from '../graph'
import type { OpDef } from '../op'
import { broadcastShapes, formatShape, normalizeAxis } from '../shape'
import { cast, expand, reshape, sumToShape } from './basic'
import { availableAfter } from './ordering'
import { transpose } from './shape'

function checkIndices(indices: TensorInfo): void {
  if (indices.dtype !== 'int64' && indices.dtype !== 'int32') throw new Error(`indices must be int64 or int32, got ${indices.dtype}`)
}

function checkAxis(axis: number, rank: number): number {
  const a = normalizeAxis(axis, rank)
  if (a === undefined) throw new Error(`axis ${axis} is out of range for rank ${rank}`)
  return a
}

interface AxisParams {
  axis: number
}

const axisAttrs = ({ axis }: AxisParams) => ({ axis: { int: axis } })

// ------------------------------------------------------------------ Gather

const gatherDef: OpDef<AxisParams> = {
  type: 'Gather',
  infer: ([data, indices], { axis }) => {
    checkIndices(indices!)
    const a = checkAxis(axis, data!.shape.length)
    return [{ dtype: data!.dtype, shape: [...data!.shape.slice(0, a), ...indices!.shape, ...data!.shape.slice(a + 1)] }]
  },
  attrs: axisAttrs,
  // Scatter-add onto zeros rather than a one-hot matmul: one-hot(indices) is
  // a [B·T, V] float tensor (8k tokens × 128k vocab = 4 GiB in float32) and
  // its matmul costs B·T·V·D; ScatterND costs B·T·D adds plus the V·D zero
  // fill that any dense gradient of the table needs anyway.
  //
  // ScatterND indexes the leading axis of its data with [.., 1] indices, so
  // along axis 0 (the embedding case) the output gradient is the update as
  // is; along another axis, the indexed axis is moved to the front and back.
  grad: ({ inputs: [data, indices], params: { axis }, dOutputs: [g] }) => {
    if (!isFloat(data!.dtype)) return [undefined, undefined]
    const a = normalizeAxis(axis, data!.rank)!
    const q = indices!.rank
    const index = reshape(cast(indices!, 'int64'), [...indices!.shape, 1], indices!)
    if (a === 0) return [scatterNDAdd(zerosAfter(data!, g!), index, g!), undefined]
    // g is [pre.., idx.., post..]; ScatterND wants [idx.., pre.., post..] onto [data[a], pre.., post..].
    const r = data!.rank
    const gPerm = [...range(a, a + q), ...range(0, a), ...range(a + q, g!.rank)]
    const front = [a, ...range(0, a), ...range(a + 1, r)]
    const zeros = expand(availableAfter(data!.graph.scalar(0, data!.dtype), g!), front.map((p) => data!.shape[p]!), data!)
    const scattered = scatterNDAdd(zeros, index, transpose(g!, gPerm))
    return [transpose(scattered, inversePerm(front)), undefined]
  },
}

/**
 * Slices of `data` along `axis` picked by `indices` (int64 or int32; output
 * shape data[:axis] + indices + data[axis+1:]). data [V, D] with token ids
 * [B, T] at axis 0 is an embedding lookup giving [B, T, D].
 */
export function gather(data: Tensor, indices: Tensor, axis = 0): Tensor {
  return data.graph.apply(gatherDef, [data, indices], { axis })[0]!
}

// ------------------------------------------------------------------ GatherElements

function elementsInfer(data: TensorInfo, indices: TensorInfo, axis: number): void {
  checkIndices(indices)
  checkAxis(axis, data.shape.length)
  if (indices.shape.length !== data.shape.length) {
    throw new Error(`indices ${formatShape(indices.shape)} must have the rank of data ${formatShape(data.shape)}`)
  }
}

const gatherElementsDef: OpDef<AxisParams> = {
  type: 'GatherElements',
  infer: ([data, indices], { axis }) => {
    elementsInfer(data!, indices!, axis)
    return [{ dtype: data!.dtype, shape: indices!.shape }]
  },
  attrs: axisAttrs,
  grad: ({ inputs: [data, indices], params: { axis }, dOutputs: [g] }) => [
    isFloat(data!.dtype) ? scatterAdd(zerosAfter(data!, g!), indices!, g!, axis) : undefined,
    undefined,
  ],
}

/** out[i][j] = data[indices[i][j]][j] (axis 0; likewise for others): one element per index. */
export function gatherElements(data: Tensor, indices: Tensor, axis: number): Tensor {
  return data.graph.apply(gatherElementsDef, [data, indices], { axis })[0]!
}

/**
 * Zeros shaped like `like`, made only once `signal` (the gradient arriving)
 * exists. Zeros of a static shape are a constant expression, which ONNX
 * Runtime folds into an initializer held for the session's life: for an
 * embedding's gradient that is a [vocab, d] tensor (545 MB on the
 * Qwen2.5-0.5B shape) resident from load to exit. Made at run time, they
 * exist only while the gradient is built into them.
 */
function zerosAfter(like: Tensor, signal: Tensor): Tensor {
  return expand(availableAfter(like.graph.scalar(0, like.dtype), signal), like.shape, like)
}

// ------------------------------------------------------------------ ScatterElements (add)

const scatterAddDef: OpDef<AxisParams> = {
  type: 'ScatterElements',
  infer: ([data, indices, updates], { axis }) => {
    elementsInfer(data!, indices!, axis)
    if (updates!.dtype !== data!.dtype) throw new Error(`dtypes differ: ${data!.dtype} vs ${updates!.dtype}`)
    if (formatShape(updates!.shape) !== formatShape(indices!.shape)) {
      throw new Error(`updates ${formatShape(updates!.shape)} must have the shape of indices ${formatShape(indices!.shape)}`)
    }
    return [data!]
  },
  attrs: ({ axis }) => ({ axis: { int: axis }, reduction: { string: 'add' } }),
  // out = data + (updates placed at indices): data passes through, each
  // update reads the gradient where it landed.
  grad: ({ inputs: [, indices], params: { axis }, dOutputs: [g] }) => [g, undefined, gatherElements(g!, indices!, axis)],
}

/** data with each updates[i][j] added at [indices[i][j]][j] (axis 0; likewise for others); repeats accumulate. */
export function scatterAdd(data: Tensor, indices: Tensor, updates: Tensor, axis: number): Tensor {
  return data.graph.apply(scatterAddDef, [data, indices, updates], { axis })[0]!
}

// ------------------------------------------------------------------ ScatterND (add), backward only

const scatterNDAddDef: OpDef<void> = {
  type: 'ScatterND',
  infer: ([data, indices, updates]) => {
    if (indices!.dtype !== 'int64') throw new Error(`indices must be int64, got ${indices!.dtype}`)
    const k = indices!.shape[indices!.shape.length - 1]
    if (typeof k !== 'number') throw new Error('the last dim of indices must be static')
    const expected = [...indices!.shape.slice(0, -1), ...data!.shape.slice(k)]
    if (formatShape(updates!.shape) !== formatShape(expected)) {
      throw new Error(`updates ${formatShape(updates!.shape)} must be ${formatShape(expected)}`)
    }
    return [data!]
  },
  attrs: () => ({ reduction: { string: 'add' } }),
  // No gradient rule: it is emitted only by Gather's.
}

function scatterNDAdd(data: Tensor, indices: Tensor, updates: Tensor): Tensor {
  return data.graph.apply(scatterNDAddDef, [data, indices, updates], undefined)[0]!
}

// ------------------------------------------------------------------ Where

const whereDef: OpDef<void> = {
  type: 'Where',
  infer: ([cond, a, b]) => {
    if (cond!.dtype !== 'bool') throw new Error(`condition must be bool, got ${cond!.dtype}`)
    if (a!.dtype !== b!.dtype) throw new Error(`dtypes differ: ${a!.dtype} vs ${b!.dtype}`)
    const shape = broadcastShapes(cond!.shape, a!.shape, b!.shape)
    if (!shape) throw new Error(`shapes ${[cond!, a!, b!].map((t) => formatShape(t.shape)).join(', ')} do not broadcast`)
    return [{ dtype: a!.dtype, shape }]
  },
  // Each branch gets g where it was chosen and 0 elsewhere, summed to its
  // shape. A constant branch (a mask's fill value) gets no gradient: it
  // would be a reduction over the whole output computed for nothing.
  grad: ({ graph, inputs: [cond, a, b], dOutputs: [g] }) => {
    const isConstant = (t: Tensor) => graph.initializers.some((i) => i.tensor === t)
    const branch = (t: Tensor, chosen: boolean) =>
      isFloat(t.dtype) && !isConstant(t) ? sumToShape(chosen ? where(cond!, g!, 0) : where(cond!, 0, g!), t.shape) : undefined
    return [undefined, branch(a!, true), branch(b!, false)]
  },
}

/** cond ? a : b elementwise, all three broadcast; a number takes the other branch's dtype. */
export function where(cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
  const dtype: DType | undefined = typeof a !== 'number' ? a.dtype : typeof b !== 'number' ? b.dtype : undefined
  if (!dtype) throw new Error('where: at least one branch must be a tensor')
  const ta = typeof a === 'number' ? cond.graph.scalar(a, dtype) : a
  const tb = typeof b === 'number' ? cond.graph.scalar(b, dtype) : b
  return cond.graph.apply(whereDef, [cond, ta, tb], undefined)[0]!
}

// ------------------------------------------------------------------ permutation helpers

function inversePerm(perm: readonly number[]): number[] {
  const inverse: number[] = []
  perm.forEach((p, i) => (inverse[p] = i))
  return inverse
}

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i)
}
