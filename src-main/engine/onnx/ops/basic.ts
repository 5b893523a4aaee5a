/**
 * Elementwise arithmetic with broadcasting, unary math, and the reductions
 * and reshapes their gradients need. Gradients of broadcast ops are summed
 * back to each input's shape (`sumToShape`).
 */
import type { DType } from '../dtype'
import { isFloat } from '../dtype'
import { typedArrayOf, type Tensor, type TensorInfo } from '../graph'
import type { GradContext, OpDef } from '../op'
import { broadcastShapes, formatShape, normalizeAxis, type Dim, type Shape } from '../shape'

type Operand = Tensor | number

function sameDtype(inputs: readonly (TensorInfo | undefined)[]): DType {
  const dtype = inputs[0]!.dtype
  for (const t of inputs) if (t && t.dtype !== dtype) throw new Error(`dtypes differ: ${inputs.map((i) => i?.dtype).join(' vs ')}`)
  return dtype
}

function broadcastInfer(inputs: readonly (TensorInfo | undefined)[]): TensorInfo[] {
  const dtype = sameDtype(inputs)
  const shape = broadcastShapes(...inputs.map((t) => t!.shape))
  if (!shape) throw new Error(`shapes ${inputs.map((t) => formatShape(t!.shape)).join(' and ')} do not broadcast`)
  return [{ dtype, shape }]
}

/** Turns a JS number into a scalar constant of the other operand's dtype. */
function operands(a: Operand, b: Operand): [Tensor, Tensor] {
  if (typeof a === 'number' && typeof b === 'number') throw new Error('at least one operand must be a tensor')
  const ta = typeof a === 'number' ? (b as Tensor).graph.scalar(a, (b as Tensor).dtype) : a
  const tb = typeof b === 'number' ? ta.graph.scalar(b, ta.dtype) : b
  return [ta, tb]
}

const floatOnly = (inputs: readonly (TensorInfo | undefined)[]): TensorInfo[] => {
  const [x] = inputs
  if (!isFloat(x!.dtype)) throw new Error(`needs a float tensor, got ${x!.dtype}`)
  return [x!]
}

const same = (inputs: readonly (TensorInfo | undefined)[]): TensorInfo[] => [inputs[0]!]

// ------------------------------------------------------------------ binary

const addDef: OpDef<void> = {
  type: 'Add',
  infer: broadcastInfer,
  grad: ({ inputs, dOutputs: [g] }) => [sumToShape(g!, inputs[0]!.shape), sumToShape(g!, inputs[1]!.shape)],
}

const subDef: OpDef<void> = {
  type: 'Sub',
  infer: broadcastInfer,
  grad: ({ inputs, dOutputs: [g] }) => [sumToShape(g!, inputs[0]!.shape), sumToShape(neg(g!), inputs[1]!.shape)],
}

const mulDef: OpDef<void> = {
  type: 'Mul',
  infer: broadcastInfer,
  grad: ({ inputs: [a, b], dOutputs: [g] }) => [sumToShape(mul(g!, b!), a!.shape), sumToShape(mul(g!, a!), b!.shape)],
}

const divDef: OpDef<void> = {
  type: 'Div',
  infer: broadcastInfer,
  // d(a/b) = g/b da − g·a/b² db = g/b da − (g/b)·(a/b) db
  grad: ({ inputs: [a, b], outputs: [y], dOutputs: [g] }) => {
    const gOverB = div(g!, b!)
    return [sumToShape(gOverB, a!.shape), sumToShape(neg(mul(gOverB, y!)), b!.shape)]
  },
}

const powDef: OpDef<void> = {
  type: 'Pow',
  infer: (inputs) => {
    const [base, exponent] = inputs
    if (!isFloat(base!.dtype)) throw new Error(`base must be float, got ${base!.dtype}`)
    const shape = broadcastShapes(base!.shape, exponent!.shape)
    if (!shape) throw new Error(`shapes ${formatShape(base!.shape)} and ${formatShape(exponent!.shape)} do not broadcast`)
    return [{ dtype: base!.dtype, shape }]
  },
  // d(a^b)/da = b·a^(b−1); d/db = a^b·ln a (defined for a > 0)
  grad: ({ inputs: [a, b], outputs: [y], dOutputs: [g] }) => {
    const bAsA = b!.dtype === a!.dtype ? b! : cast(b!, a!.dtype)
    const da = sumToShape(mul(g!, mul(bAsA, pow(a!, sub(bAsA, 1)))), a!.shape)
    const db = isFloat(b!.dtype) && b!.dtype === a!.dtype ? sumToShape(mul(g!, mul(y!, log(a!))), b!.shape) : undefined
    return [da, db]
  },
}

export function add(a: Operand, b: Operand): Tensor {
  const [x, y] = operands(a, b)
  return x.graph.apply(addDef, [x, y], undefined)[0]!
}
export function sub(a: Operand, b: Operand): Tensor {
  const [x, y] = operands(a, b)
  return x.graph.apply(subDef, [x, y], undefined)[0]!
}
export function mul(a: Operand, b: Operand): Tensor {
  const [x, y] = operands(a, b)
  return x.graph.apply(mulDef, [x, y], undefined)[0]!
}
export function div(a: Operand, b: Operand): Tensor {
  const [x, y] = operands(a, b)
  return x.graph.apply(divDef, [x, y], undefined)[0]!
}
export function pow(a: Tensor, exponent: Operand): Tensor {
  const e = typeof exponent === 'number' ? a.graph.scalar(exponent, a.dtype) : exponent
  return a.graph.apply(powDef, [a, e], undefined)[0]!
}

// ------------------------------------------------------------------ unary

function unary(type: string, grad: OpDef<void>['grad'], infer = floatOnly): OpDef<void> {
  return { type, infer, ...(grad ? { grad } : {}) }
}

const negDef = unary('Neg', ({ dOutputs: [g] }) => [neg(g!)], same)
const identityDef = unary('Identity', ({ dOutputs: [g] }) => [g], same)
const expDef = unary('Exp', ({ outputs: [y], dOutputs: [g] }) => [mul(g!, y!)])
const logDef = unary('Log', ({ inputs: [x], dOutputs: [g] }) => [div(g!, x!)])
const sqrtDef = unary('Sqrt', ({ outputs: [y], dOutputs: [g] }) => [div(g!, mul(y!, 2))])
const reciprocalDef = unary('Reciprocal', ({ outputs: [y], dOutputs: [g] }) => [neg(mul(g!, mul(y!, y!)))])
const sigmoidDef = unary('Sigmoid', ({ outputs: [y], dOutputs: [g] }) => [mul(g!, mul(y!, sub(1, y!)))])

export const neg = (x: Tensor): Tensor => x.graph.apply(negDef, [x], undefined)[0]!
export const identity = (x: Tensor): Tensor => x.graph.apply(identityDef, [x], undefined)[0]!
export const exp = (x: Tensor): Tensor => x.graph.apply(expDef, [x], undefined)[0]!
export const log = (x: Tensor): Tensor => x.graph.apply(logDef, [x], undefined)[0]!
export const sqrt = (x: Tensor): Tensor => x.graph.apply(sqrtDef, [x], undefined)[0]!
export const reciprocal = (x: Tensor): Tensor => x.graph.apply(reciprocalDef, [x], undefined)[0]!
export const sigmoid = (x: Tensor): Tensor => x.graph.apply(sigmoidDef, [x], undefined)[0]!

// ------------------------------------------------------------------ cast

const castDef: OpDef<{ to: DType }> = {
  type: 'Cast',
  infer: ([x], { to }) => [{ dtype: to, shape: x!.shape }],
  attrs: ({ to }) => ({ to: { int: onnxTypeCode(to) } }),
  // Only float → float casts carry a gradient (integers and bools have none).
  grad: ({ inputs: [x], dOutputs: [g] }) => [isFloat(x!.dtype) && isFloat(g!.dtype) ? cast(g!, x!.dtype) : undefined],
}

function onnxTypeCode(dtype: DType): number {
  return { float32: 1, float64: 11, float16: 10, int64: 7, int32: 6, bool: 9, uint8: 2 }[dtype]
}

export function cast(x: Tensor, to: DType): Tensor {
  return x.dtype === to ? x : x.graph.apply(castDef, [x], { to })[0]!
}

// ------------------------------------------------------------------ variadic sum

const sumDef: OpDef<void> = {
  type: 'Sum',
  infer: broadcastInfer,
  grad: ({ inputs, dOutputs: [g] }) => inputs.map((x) => sumToShape(g!, x!.shape)),
}

/** Elementwise sum of several tensors in one node (how gradients accumulate). */
export function sum(xs: readonly Tensor[]): Tensor {
  if (xs.length === 0) throw new Error('sum of no tensors')
  return xs.length === 1 ? xs[0]! : xs[0]!.graph.apply(sumDef, xs, undefined)[0]!
}

// ------------------------------------------------------------------ shape of a tensor

const shapeDef: OpDef<void> = {
  type: 'Shape',
  infer: ([x]) => [{ dtype: 'int64', shape: [x!.shape.length] }],
}

/** The runtime shape of `x` as an int64 vector. */
export function shapeOf(x: Tensor): Tensor {
  return x.graph.apply(shapeDef, [x], undefined)[0]!
}

// ------------------------------------------------------------------ fill

const expandDef: OpDef<{ shape: Shape }> = {
  type: 'Expand',
  infer: ([x, s], { shape }) => {
    if (s!.dtype !== 'int64') throw new Error('shape must be int64')
    const out = broadcastShapes(x!.shape, shape)
    if (!out) throw new Error(`cannot expand ${formatShape(x!.shape)} to ${formatShape(shape)}`)
    return [{ dtype: x!.dtype, shape: out }]
  },
  grad: ({ inputs: [x], dOutputs: [g] }) => [sumToShape(g!, x!.shape), undefined],
}

/** Broadcasts `x` to `shape`; symbolic dims are taken from `like` at run time. */
export function expand(x: Tensor, shape: Shape, like?: Tensor): Tensor {
  const target = shape.every((d) => typeof d === 'number') ? x.graph.int64s(shape as number[]) : runtimeShape(shape, like)
  return x.graph.apply(expandDef, [x, target], { shape })[0]!
}

/** A tensor shaped like `like`, every element `value`. */
export function fill(like: Tensor, value: number): Tensor {
  const scalar = like.graph.scalar(value, like.dtype)
  return expand(scalar, like.shape, like)
}

/**
 * An int64 shape vector for `shape`: numbers are constants; a symbolic dim is
 * read at run time from the first axis of `like` that has the same name.
 */
export function runtimeShape(shape: Shape, like: Tensor | undefined): Tensor {
  if (shape.every((d) => typeof d === 'number')) return (like ?? (null as never)).graph.int64s(shape as number[])
  if (!like) throw new Error(`shape ${formatShape(shape)} has symbolic dims; give a tensor to read them from`)
  const graph = like.graph
  const full = shapeOf(like)
  const parts = shape.map((d) => {
    if (typeof d === 'number') return graph.int64s([d])
    const axis = like.shape.indexOf(d)
    if (axis < 0) throw new Error(`symbolic dim "${d}" is not a dim of ${like.name} ${formatShape(like.shape)}`)
    return gatherIndex(full, axis)
  })
  return concatVectors(parts)
}

// Small helpers on int64 shape vectors, used by runtimeShape.

const sliceVectorDef: OpDef<{ at: number }> = {
  type: 'Slice',
  infer: () => [{ dtype: 'int64', shape: [1] }],
}

function gatherIndex(vector: Tensor, index: number): Tensor {
  const g = vector.graph
  return g.apply(sliceVectorDef, [vector, g.int64s([index]), g.int64s([index + 1]), g.int64s([0])], { at: index })[0]!
}

const concatVectorsDef: OpDef<void> = {
  type: 'Concat',
  infer: (inputs) => [{ dtype: 'int64', shape: [inputs.reduce((n, t) => n + (t!.shape[0] as number), 0)] }],
  attrs: () => ({ axis: { int: 0 } }),
}

function concatVectors(parts: Tensor[]): Tensor {
  return parts.length === 1 ? parts[0]! : parts[0]!.graph.apply(concatVectorsDef, parts, undefined)[0]!
}

// ------------------------------------------------------------------ reductions

export interface ReduceParams {
  axes: readonly number[]
  keepdims: boolean
}

function reducedShape(shape: Shape, { axes, keepdims }: ReduceParams): Dim[] {
  // ONNX reads empty axes as "all axes"; being explicit avoids that trap.
  if (axes.length === 0) throw new Error('needs at least one axis')
  const normalized = axes.map((a) => {
    const n = normalizeAxis(a, shape.length)
    if (n === undefined) throw new Error(`axis ${a} is out of range for rank ${shape.length}`)
    return n
  })
  const out: Dim[] = []
  shape.forEach((d, i) => {
    if (!normalized.includes(i)) out.push(d)
    else if (keepdims) out.push(1)
  })
  return out
}

function reduceInfer(inputs: readonly (TensorInfo | undefined)[], params: ReduceParams): TensorInfo[] {
  const [x] = inputs
  return [{ dtype: x!.dtype, shape: reducedShape(x!.shape, params) }]
}

const reduceAttrs = ({ keepdims }: ReduceParams) => ({ keepdims: { int: keepdims ? 1 : 0 } })

/** Broadcasts a reduced gradient back over the reduced axes. */
function unreduce({ inputs: [x], params, dOutputs: [g] }: GradContext<ReduceParams>): Tensor {
  const kept = params.keepdims ? g! : reshape(g!, reducedShape(x!.shape, { ...params, keepdims: true }), x!)
  return expand(kept, x!.shape, x!)
}

const reduceSumDef: OpDef<ReduceParams> = {
  type: 'ReduceSum',
  infer: reduceInfer,
  attrs: reduceAttrs,
  grad: (ctx) => [unreduce(ctx), undefined],
}

const reduceMeanDef: OpDef<ReduceParams> = {
  type: 'ReduceMean',
  infer: reduceInfer,
  attrs: reduceAttrs,
  grad: (ctx) => {
    const x = ctx.inputs[0]!
    const count = reduceCount(x, ctx.params.axes)
    return [div(unreduce(ctx), count), undefined]
  },
}

/** Number of elements a reduction over `axes` averages, as a scalar of x's dtype. */
function reduceCount(x: Tensor, axes: readonly number[]): Tensor {
  const dims = axes.map((a) => x.shape[normalizeAxis(a, x.rank)!]!)
  if (dims.every((d) => typeof d === 'number')) return x.graph.scalar((dims as number[]).reduce((p, d) => p * d, 1), x.dtype)
  const sizes = axes.map((a) => gatherIndex(shapeOf(x), normalizeAxis(a, x.rank)!))
  const product = sizes.reduce((p, s) => mul(p, s))
  return cast(reshape(product, [], undefined), x.dtype)
}

export function reduceSum(x: Tensor, axes: readonly number[], keepdims = false): Tensor {
  return x.graph.apply(reduceSumDef, [x, x.graph.int64s(axes)], { axes, keepdims })[0]!
}

export function reduceMean(x: Tensor, axes: readonly number[], keepdims = false): Tensor {
  return x.graph.apply(reduceMeanDef, [x, x.graph.int64s(axes)], { axes, keepdims })[0]!
}

/** Sums a broadcast result back to `shape` (the gradient of broadcasting). */
export function sumToShape(g: Tensor, shape: Shape): Tensor {
  const lead = g.rank - shape.length
  if (lead < 0) throw new Error(`cannot sum ${formatShape(g.shape)} to the larger shape ${formatShape(shape)}`)
  const axes: number[] = []
  for (let i = 0; i < g.rank; i++) {
    if (i < lead) axes.push(i)
    else if (shape[i - lead] === 1 && g.shape[i] !== 1) axes.push(i)
  }
  if (axes.length === 0) return g
  const summed = reduceSum(g, axes, true)
  return lead === 0 ? summed : reshape(summed, shape)
}

// ------------------------------------------------------------------ reshape

const reshapeDef: OpDef<{ shape: Shape }> = {
  type: 'Reshape',
  infer: ([x, s], { shape }) => {
    if (s!.dtype !== 'int64') throw new Error('shape must be int64')
    const from = x!.shape
    const fromSize = from.every((d) => typeof d === 'number') ? (from as number[]).reduce((a, b) => a * b, 1) : undefined
    const toSize = shape.every((d) => typeof d === 'number') ? (shape as number[]).reduce((a, b) => a * b, 1) : undefined
    if (fromSize !== undefined && toSize !== undefined && fromSize !== toSize) {
      throw new Error(`cannot reshape ${formatShape(from)} (${fromSize} elements) to ${formatShape(shape)} (${toSize})`)
    }
    return [{ dtype: x!.dtype, shape }]
  },
  grad: ({ inputs: [x], dOutputs: [g] }) => [reshape(g!, x!.shape, x), undefined],
}

/**
 * Reshapes to `shape`, whose dims are numbers or symbolic dims read at run
 * time from `like` (by default `x` itself).
 */
export function reshape(x: Tensor, shape: Shape, like: Tensor | undefined = x): Tensor {
  const target = shape.every((d) => typeof d === 'number') ? x.graph.int64s(shape as number[]) : runtimeShape(shape, like)
  return x.graph.apply(reshapeDef, [x, target], { shape })[0]!
}

export { typedArrayOf }
