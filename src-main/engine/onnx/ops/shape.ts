/**
 * Ops that move elements without arithmetic: transpose, slice, concat,
 * split, unsqueeze, squeeze. Each gradient moves the output gradient back to
 * where the elements came from (inverse permutation, zero padding, split,
 * concat, the opposite squeeze).
 *
 * Symbolic dims. Transpose, unsqueeze and squeeze only carry dims around.
 * The others name the dims they create after the arithmetic that makes them,
 * so that equal lengths get equal names:
 *
 * - `concat` along a symbolic axis adds the parts: ['past', 'seq'] → 'past+seq',
 *   ['seq', 1] → 'seq+1'.
 * - `slice` of a symbolic axis `d` (step 1 only):
 *     [s:]  → `d-s` (`d` when s = 0)   [s:-e] → `d-${s+e}`
 *     so x[:, :-1] and y[:, 1:] both have the length 'seq-1' and combine;
 *     [s:e] → e − s    [-s:] → s    [-s:-e] → s − e   (static lengths)
 *   The static cases assume the dim is at least as long as the bounds reach
 *   (ONNX would clamp a shorter one, and the declared shape would be wrong).
 *   A negative start with a non-negative end has no length known at build
 *   time and is refused, as is a step > 1 on a symbolic axis.
 * - `split` needs a static axis.
 *
 * Gradient rules that need a symbolic length at run time (the zeros before a
 * slice that counts from the end, the sizes of a concat's parts) read it from
 * the forward input's runtime shape.
 */
import type { Graph, Tensor, TensorInfo } from '../graph'
import type { OpDef } from '../op'
import { formatShape, normalizeAxis, sameDim, type Dim, type Shape } from '../shape'
import { fill, reshape, shapeOf, sub } from './basic'

function axisIn(axis: number, rank: number): number {
  const a = normalizeAxis(axis, rank)
  if (a === undefined) throw new Error(`axis ${axis} is out of range for rank ${rank}`)
  return a
}

function distinctAxes(axes: readonly number[], rank: number): number[] {
  if (axes.length === 0) throw new Error('needs at least one axis')
  const normalized = axes.map((a) => axisIn(a, rank))
  normalized.forEach((a, i) => {
    if (normalized.indexOf(a) !== i) throw new Error(`axis ${axes[i]} is given twice in [${axes.join(', ')}]`)
  })
  return normalized
}

/** The runtime length of `x`'s `axis`, as an int64 vector of one element. */
function dimOf(x: Tensor, axis: number): Tensor {
  return slice(shapeOf(x), { starts: [axis], ends: [axis + 1] })
}

/** An int64 vector from numbers and runtime [1]-vectors, with runs of numbers as one constant. */
function int64Vector(graph: Graph, parts: readonly (number | Tensor)[]): Tensor {
  const pieces: Tensor[] = []
  let run: number[] = []
  for (const part of parts) {
    if (typeof part === 'number') run.push(part)
    else {
      if (run.length) pieces.push(graph.int64s(run))
      run = []
      pieces.push(part)
    }
  }
  if (run.length) pieces.push(graph.int64s(run))
  return pieces.length === 1 ? pieces[0]! : concat(pieces, 0)
}

// ------------------------------------------------------------------ transpose

interface TransposeParams {
  perm: readonly number[]
}

const transposeDef: OpDef<TransposeParams> = {
  type: 'Transpose',
  infer: ([x], { perm }) => {
    const rank = x!.shape.length
    const sorted = [...perm].sort((a, b) => a - b)
    if (perm.length !== rank || !sorted.every((p, i) => p === i)) {
      throw new Error(`perm [${perm.join(', ')}] is not a permutation of the ${rank} axes`)
    }
    return [{ dtype: x!.dtype, shape: perm.map((p) => x!.shape[p]!) }]
  },
  attrs: ({ perm }) => ({ perm: { ints: perm } }),
  grad: ({ params: { perm }, dOutputs: [g] }) => {
    const inverse: number[] = []
    perm.forEach((p, i) => (inverse[p] = i))
    return [transpose(g!, inverse)]
  },
}

/** Output axis i is input axis perm[i]; default: the axes reversed (as ONNX). */
export function transpose(x: Tensor, perm?: readonly number[]): Tensor {
  const p = perm ?? x.shape.map((_, i) => x.rank - 1 - i)
  return x.graph.apply(transposeDef, [x], { perm: p })[0]!
}

// ------------------------------------------------------------------ slice

export interface SliceSpec {
  /** Negative counts from the end. */
  starts: readonly number[]
  /** Exclusive; negative counts from the end; `Infinity` (or anything ≥ 2³¹ − 1) means "to the end". */
  ends: readonly number[]
  /** Default: the first `starts.length` axes. */
  axes?: readonly number[]
  /** Default 1 each; must be ≥ 1 (> 1 only on static axes). */
  steps?: readonly number[]
}

interface SliceParams {
  starts: readonly number[]
  ends: readonly number[]
  axes: readonly number[]
  steps: readonly number[]
}

/** Bounds at least this large mean "to the end" (INT32_MAX is a common spelling of it). */
const OPEN = 2 ** 31 - 1

/** Zeros to put back on one side of a sliced axis: a number, or the axis' runtime length minus a number. */
type PadAmount = number | { dimMinus: number }

interface AxisSlice {
  axis: number
  step: number
  length: Dim
  before: PadAmount
  after: PadAmount
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v))
}

/** One axis of a slice, resolved against its dim (ONNX's clamping rules for static dims). */
function resolveAxis(dim: Dim, axis: number, start: number, end: number, step: number): AxisSlice {
  if (typeof dim === 'number') {
    const s = clamp(start < 0 ? start + dim : start, 0, dim)
    const e = clamp(end < 0 ? end + dim : end, 0, dim)
    const length = Math.max(0, Math.ceil((e - s) / step))
    const before = length === 0 ? 0 : s
    const span = length === 0 ? 0 : (length - 1) * step + 1
    return { axis, step, length, before, after: dim - before - span }
  }
  if (step !== 1) throw new Error(`a step of ${step} on the symbolic dim "${dim}" is not supported`)
  const s = start <= -OPEN ? 0 : start
  const open = end >= OPEN
  const bounds = `[${start}:${open ? '' : end}]`
  const empty = (): never => {
    throw new Error(`slice ${bounds} of the symbolic dim "${dim}" is empty`)
  }
  if (s >= OPEN) empty()
  if (s >= 0 && open) return { axis, step, length: s === 0 ? dim : `${dim}-${s}`, before: s, after: 0 }
  if (s >= 0 && end < 0) return { axis, step, length: `${dim}-${s - end}`, before: s, after: -end }
  if (s >= 0) return { axis, step, length: end > s ? end - s : empty(), before: s, after: { dimMinus: end } }
  if (open) return { axis, step, length: -s, before: { dimMinus: -s }, after: 0 }
  if (end < 0) return { axis, step, length: end > s ? end - s : empty(), before: { dimMinus: -s }, after: -end }
  throw new Error(`slice ${bounds} of the symbolic dim "${dim}" has no length known while building (negative start, non-negative end)`)
}

function resolveSlice(shape: Shape, { starts, ends, axes, steps }: SliceParams): AxisSlice[] {
  if (ends.length !== starts.length || axes.length !== starts.length || steps.length !== starts.length) {
    throw new Error(`starts, ends, axes and steps differ in length (${starts.length}, ${ends.length}, ${axes.length}, ${steps.length})`)
  }
  const normalized = distinctAxes(axes, shape.length)
  return normalized.map((axis, i) => {
    const [start, end, step] = [starts[i]!, ends[i]!, steps[i]!]
    for (const v of [start, end]) if (!Number.isInteger(v) && Math.abs(v) !== Infinity) throw new Error(`bound ${v} is not an integer`)
    if (!Number.isInteger(step) || step < 1) throw new Error(`step ${step} is not supported (steps must be integers ≥ 1)`)
    return resolveAxis(shape[axis]!, axis, start, end, step)
  })
}

/** int64 bounds; infinities and beyond-int32 values become the int64 extremes, which ONNX clamps. */
function int64Bounds(graph: Graph, values: readonly number[]): Tensor {
  const big = values.map((v) => (v >= OPEN ? 0x7fffffffffffffffn : v <= -OPEN ? -0x8000000000000000n : BigInt(v)))
  return graph.constant(BigInt64Array.from(big), 'int64', [values.length])
}

const sliceDef: OpDef<SliceParams> = {
  type: 'Slice',
  infer: ([x], params) => {
    const shape = [...x!.shape]
    for (const { axis, length } of resolveSlice(x!.shape, params)) shape[axis] = length
    return [{ dtype: x!.dtype, shape }]
  },
  // Zeros where the slice did not look: spread out the stepped axes, then pad every axis back to its length.
  grad: ({ inputs: [x], params, dOutputs: [g] }) => {
    const rank = x!.rank
    const pads: PadAmount[] = new Array<PadAmount>(2 * rank).fill(0)
    let d = g!
    for (const { axis, step, before, after } of resolveSlice(x!.shape, params)) {
      if (step > 1) d = spread(d, axis, step)
      pads[axis] = before
      pads[rank + axis] = after
    }
    return [padZeros(d, pads, x!.shape, x!)]
  },
}

export function slice(x: Tensor, spec: SliceSpec): Tensor {
  const g = x.graph
  const params: SliceParams = {
    starts: spec.starts,
    ends: spec.ends,
    axes: spec.axes ?? spec.starts.map((_, i) => i),
    steps: spec.steps ?? spec.starts.map(() => 1),
  }
  const inputs = [x, int64Bounds(g, params.starts), int64Bounds(g, params.ends), g.int64s(params.axes), g.int64s(params.steps)]
  return g.apply(sliceDef, inputs, params)[0]!
}

/** Puts `step − 1` zeros between neighbours along a static axis: length n → (n − 1)·step + 1. */
function spread(d: Tensor, axis: number, step: number): Tensor {
  const n = d.shape[axis] as number
  if (n <= 1) return d
  const wide = unsqueeze(d, [axis + 1])
  const pads = new Array<number>(2 * wide.rank).fill(0)
  pads[wide.rank + axis + 1] = step - 1
  const shape = [...wide.shape]
  shape[axis + 1] = step
  const padded = padZeros(wide, pads, shape, wide)
  const flat = reshape(padded, [...d.shape.slice(0, axis), n * step, ...d.shape.slice(axis + 1)], padded)
  return slice(flat, { starts: [0], ends: [(n - 1) * step + 1], axes: [axis] })
}

// Pad is only emitted by gradient rules; it has no gradient of its own (no second derivatives).
const padDef: OpDef<{ shape: Shape }> = {
  type: 'Pad',
  infer: ([x, pads], { shape }) => {
    const rank = x!.shape.length
    if (pads!.dtype !== 'int64' || pads!.shape.length !== 1 || pads!.shape[0] !== 2 * rank) {
      throw new Error(`pads must be int64[${2 * rank}], got ${pads!.dtype}${formatShape(pads!.shape)}`)
    }
    if (shape.length !== rank) throw new Error(`padded shape ${formatShape(shape)} has another rank than ${formatShape(x!.shape)}`)
    return [{ dtype: x!.dtype, shape }]
  },
}

/**
 * Zero-pads `d` to `shape` (ONNX pads: all befores, then all afters). An
 * amount `{ dimMinus: k }` is `like`'s runtime length on that axis minus k.
 */
function padZeros(d: Tensor, pads: readonly PadAmount[], shape: Shape, like: Tensor): Tensor {
  const rank = d.rank
  const parts = pads.map((p, i) => (typeof p === 'number' ? p : sub(dimOf(like, i % rank), p.dimMinus)))
  return d.graph.apply(padDef, [d, int64Vector(d.graph, parts)], { shape })[0]!
}

// ------------------------------------------------------------------ concat

/** Length of parts laid end to end: numbers add, symbolic dims join with '+'. */
function addDims(dims: readonly Dim[]): Dim {
  const symbols = dims.filter((d): d is string => typeof d === 'string')
  const total = dims.reduce<number>((n, d) => n + (typeof d === 'number' ? d : 0), 0)
  if (symbols.length === 0) return total
  return [...symbols, ...(total ? [total] : [])].join('+')
}

const concatDef: OpDef<{ axis: number }> = {
  type: 'Concat',
  infer: (inputs, { axis }) => {
    const first = inputs[0]!
    const rank = first.shape.length
    const a = axisIn(axis, rank)
    for (const t of inputs) {
      if (t!.dtype !== first.dtype) throw new Error(`dtypes differ: ${inputs.map((i) => i!.dtype).join(' vs ')}`)
      if (t!.shape.length !== rank || !t!.shape.every((d, i) => i === a || sameDim(d, first.shape[i]!))) {
        throw new Error(`shapes ${inputs.map((i) => formatShape(i!.shape)).join(', ')} differ outside axis ${axis}`)
      }
    }
    const shape = [...first.shape]
    shape[a] = addDims(inputs.map((t) => t!.shape[a]!))
    return [{ dtype: first.dtype, shape }]
  },
  attrs: ({ axis }) => ({ axis: { int: axis } }),
  grad: ({ inputs, params: { axis }, dOutputs: [g] }) => {
    if (inputs.length === 1) return [g]
    const a = normalizeAxis(axis, g!.rank)!
    const sizes = inputs.map((x) => x!.shape[a]!)
    const split = int64Vector(
      g!.graph,
      inputs.map((x, i) => (typeof sizes[i] === 'number' ? sizes[i] : dimOf(x!, a))),
    )
    return g!.graph.apply(splitDef, [g!, split], { axis: a, sizes })
  },
}

/** Joins tensors along `axis` (negative counts from the end). */
export function concat(xs: readonly Tensor[], axis: number): Tensor {
  if (xs.length === 0) throw new Error('concat of no tensors')
  return xs[0]!.graph.apply(concatDef, xs, { axis })[0]!
}

// ------------------------------------------------------------------ split

interface SplitParams {
  axis: number
  /** The part lengths, when given (emitted as the `split` input). */
  sizes?: readonly Dim[]
  /** Equal parts, when given (emitted as the `num_outputs` attribute). */
  count?: number
}

function splitSizes(x: TensorInfo, { axis, sizes, count }: SplitParams): Dim[] {
  const a = axisIn(axis, x.shape.length)
  const dim = x.shape[a]!
  if (count !== undefined) {
    if (!Number.isInteger(count) || count < 1) throw new Error(`cannot split into ${count} parts`)
    if (typeof dim !== 'number') throw new Error(`splitting the symbolic dim "${dim}" into ${count} parts needs a static dim`)
    if (dim % count !== 0) throw new Error(`dim ${dim} does not split into ${count} equal parts`)
    return new Array<number>(count).fill(dim / count)
  }
  const parts = sizes ?? []
  if (parts.length === 0) throw new Error('needs at least one size')
  if (parts.some((s) => typeof s === 'number' && (!Number.isInteger(s) || s < 0))) throw new Error(`sizes [${parts.join(', ')}] must be integers ≥ 0`)
  // Parts with symbolic lengths come only from concat's gradient, which knows they add up.
  if (parts.every((s) => typeof s === 'number')) {
    if (typeof dim !== 'number') throw new Error(`splitting the symbolic dim "${dim}" needs a static dim`)
    const total = (parts as number[]).reduce((n, s) => n + s, 0)
    if (total !== dim) throw new Error(`sizes [${parts.join(', ')}] add up to ${total}, not the dim ${dim}`)
  }
  return [...parts]
}

const splitDef: OpDef<SplitParams> = {
  type: 'Split',
  infer: ([x, split], params) => {
    if (split && (split.dtype !== 'int64' || split.shape.length !== 1)) throw new Error(`split must be an int64 vector, got ${split.dtype}${formatShape(split.shape)}`)
    const a = axisIn(params.axis, x!.shape.length)
    return splitSizes(x!, params).map((size) => {
      const shape = [...x!.shape]
      shape[a] = size
      return { dtype: x!.dtype, shape }
    })
  },
  attrs: ({ axis, count }) => ({ axis: { int: axis }, ...(count !== undefined ? { num_outputs: { int: count } } : {}) }),
  // Outputs that do not reach the loss contribute zeros.
  grad: ({ params: { axis }, outputs, dOutputs }) => [concat(dOutputs.map((d, i) => d ?? fill(outputs[i]!, 0)), axis), undefined],
}

/** Cuts `x` along a static axis into parts of the given lengths, or into `count` equal parts. */
export function split(x: Tensor, sizesOrCount: readonly number[] | number, axis = 0): Tensor[] {
  if (typeof sizesOrCount === 'number') return x.graph.apply(splitDef, [x], { axis, count: sizesOrCount })
  return x.graph.apply(splitDef, [x, x.graph.int64s(sizesOrCount)], { axis, sizes: sizesOrCount })
}

// ------------------------------------------------------------------ unsqueeze, squeeze

interface AxesParams {
  axes: readonly number[]
}

const unsqueezeDef: OpDef<AxesParams> = {
  type: 'Unsqueeze',
  infer: ([x], { axes }) => {
    // Axes count in the output, as in ONNX.
    const inserted = distinctAxes(axes, x!.shape.length + axes.length)
    const rest = [...x!.shape]
    const shape: Dim[] = []
    for (let i = 0; i < x!.shape.length + axes.length; i++) shape.push(inserted.includes(i) ? 1 : rest.shift()!)
    return [{ dtype: x!.dtype, shape }]
  },
  grad: ({ params: { axes }, dOutputs: [g] }) => [squeeze(g!, axes), undefined],
}

const squeezeDef: OpDef<AxesParams> = {
  type: 'Squeeze',
  infer: ([x], { axes }) => {
    // Explicit axes: ONNX reads none as "every axis of length 1", which a symbolic dim makes unknowable.
    const removed = distinctAxes(axes, x!.shape.length)
    for (const a of removed) {
      const d = x!.shape[a]!
      if (d !== 1) throw new Error(`axis ${a} has length ${typeof d === 'number' ? d : `"${d}" (symbolic)`}, not 1`)
    }
    return [{ dtype: x!.dtype, shape: x!.shape.filter((_, i) => !removed.includes(i)) }]
  },
  grad: ({ params: { axes }, dOutputs: [g] }) => [unsqueeze(g!, axes), undefined],
}

/** Inserts axes of length 1; `axes` index the output (negative counts from its end). */
export function unsqueeze(x: Tensor, axes: readonly number[]): Tensor {
  return x.graph.apply(unsqueezeDef, [x, x.graph.int64s(axes)], { axes })[0]!
}

/** Removes the given axes, each of static length 1. */
export function squeeze(x: Tensor, axes: readonly number[]): Tensor {
  return x.graph.apply(squeezeDef, [x, x.graph.int64s(axes)], { axes })[0]!
}
