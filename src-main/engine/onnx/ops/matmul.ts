/**
 * Matrix products with NumPy semantics: the last two axes multiply, the
 * leading (batch) axes broadcast. The gradient is two products with one
 * operand transposed, summed back over broadcast batch axes — except for the
 * linear-layer case, where the weight gradient is a single 2-D product (see
 * `matmulDef.grad`).
 */
import { isFloat } from '../dtype'
import type { Tensor, TensorInfo } from '../graph'
import type { OpDef } from '../op'
import { broadcastShapes, formatShape, sameDim, type Dim, type Shape } from '../shape'
import { reshape, sumToShape } from './basic'
import { transpose } from './shape'

// ------------------------------------------------------------------ MatMul

function matmulInfer([a, b]: readonly (TensorInfo | undefined)[]): TensorInfo[] {
  if (a!.dtype !== b!.dtype) throw new Error(`dtypes differ: ${a!.dtype} vs ${b!.dtype}`)
  if (!isFloat(a!.dtype)) throw new Error(`needs float tensors, got ${a!.dtype}`)
  if (a!.shape.length < 2 || b!.shape.length < 2) throw new Error('needs rank ≥ 2 operands (matmul() reshapes vectors)')
  const [m, k] = a!.shape.slice(-2) as [Dim, Dim]
  const [kb, n] = b!.shape.slice(-2) as [Dim, Dim]
  if (!sameDim(k, kb)) throw new Error(`inner dims differ: ${formatShape(a!.shape)} × ${formatShape(b!.shape)} contracts ${k} with ${kb}`)
  const batchA = a!.shape.slice(0, -2)
  const batchB = b!.shape.slice(0, -2)
  const batch = broadcastShapes(batchA, batchB)
  if (!batch) throw new Error(`batch dims ${formatShape(batchA)} and ${formatShape(batchB)} do not broadcast`)
  return [{ dtype: a!.dtype, shape: [...batch, m, n] }]
}

const matmulDef: OpDef<void> = {
  type: 'MatMul',
  infer: matmulInfer,
  grad: ({ inputs: [a, b], dOutputs: [g] }) => {
    // When b has no batch of its own (a weight [K, N] shared by every row of a
    // [B, T, K] activation), every batch element contributes to the same dB.
    // The batched form, Aᵀ·g per batch element then ReduceSum over the batch,
    // materializes a [B, K, N] intermediate and runs B small products; viewing
    // the rows as one [B·T, K] matrix gives dB = A₂ᵀ·g₂ as ONE large GEMM with
    // the sum folded into its inner dimension, which is what BLAS is fast at.
    // Gemm's transpose flags read A₂ and Wᵀ in place, so neither the
    // activation nor the (possibly vocab-sized) weight is copied transposed.
    if (b!.shape.slice(0, -2).every((d) => d === 1)) {
      const g2 = flatten(g!, g!.rank - 1)
      const b2 = b!.rank === 2 ? b! : flatten(b!, b!.rank - 1)
      const a2 = a!.rank === 2 ? a! : flatten(a!, a!.rank - 1)
      const dA = gemm(g2, b2, { transA: false, transB: true })
      const dB = gemm(a2, g2, { transA: true, transB: false })
      return [a!.rank === 2 ? dA : reshape(dA, a!.shape, a!), b!.rank === 2 ? dB : reshape(dB, b!.shape, b!)]
    }
    return [sumToShape(matmul(g!, transposeLastTwo(b!)), a!.shape), sumToShape(matmul(transposeLastTwo(a!), g!), b!.shape)]
  },
}

/**
 * a·b with NumPy semantics: [.., M, K]·[.., K, N] → [.., M, N] with the batch
 * axes broadcast; a 1-D operand is a row (a) or column (b) vector whose unit
 * axis is dropped from the result.
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  const a2 = a.rank === 1 ? reshape(a, [1, a.shape[0]!], a) : a
  const b2 = b.rank === 1 ? reshape(b, [b.shape[0]!, 1], b) : b
  const y = a.graph.apply(matmulDef, [a2, b2], undefined)[0]!
  if (a.rank !== 1 && b.rank !== 1) return y
  const dropped = y.shape.filter((_, i) => !((a.rank === 1 && i === y.rank - 2) || (b.rank === 1 && i === y.rank - 1)))
  return reshape(y, dropped, y)
}

// ------------------------------------------------------------------ Gemm (backward only)

export interface GemmParams {
  transA: boolean
  transB: boolean
}

/** 2-D op(A)·op(B), op = optional transpose read in place by the kernel. */
const gemmDef: OpDef<GemmParams> = {
  type: 'Gemm',
  infer: ([a, b, c], { transA, transB }) => {
    if (a!.dtype !== b!.dtype) throw new Error(`dtypes differ: ${a!.dtype} vs ${b!.dtype}`)
    if (a!.shape.length !== 2 || b!.shape.length !== 2) throw new Error('needs 2-D operands')
    const [m, k] = (transA ? [...a!.shape].reverse() : a!.shape) as Dim[]
    const [kb, n] = (transB ? [...b!.shape].reverse() : b!.shape) as Dim[]
    if (!sameDim(k!, kb!)) throw new Error(`inner dims differ: contracts ${k} with ${kb}`)
    if (c && (c.dtype !== a!.dtype || c.shape.length !== 2 || !sameDim(c.shape[0]!, m!) || !sameDim(c.shape[1]!, n!))) {
      throw new Error(`the added term must be ${a!.dtype}[${m}, ${n}], got ${c.dtype}${formatShape(c.shape)}`)
    }
    return [{ dtype: a!.dtype, shape: [m!, n!] }]
  },
  attrs: ({ transA, transB }) => ({ transA: { int: transA ? 1 : 0 }, transB: { int: transB ? 1 : 0 } }),
  // No gradient rule: it is emitted only by gradient rules, and nothing here
  // takes second derivatives.
}

/**
 * Gemm on 2-D operands: op(a)·op(b) (+ c) with op = transpose where flagged
 * (read in place, no copy). With `c`, a sum of products is built without a
 * separate tensor for each product.
 */
export function gemm(a: Tensor, b: Tensor, params: GemmParams, c?: Tensor): Tensor {
  return a.graph.apply(gemmDef, c ? [a, b, c] : [a, b], params)[0]!
}

// ------------------------------------------------------------------ Flatten

/**
 * The size of several dims as one dim: a number when all are static, else a
 * name such as 'batch*seq' (static factors first, 1s left out), so the same
 * rows flattened from different tensors get the same name.
 */
function productDim(dims: Shape): Dim {
  let n = 1
  const names: string[] = []
  for (const d of dims) {
    if (typeof d === 'number') n *= d
    else names.push(d)
  }
  if (names.length === 0) return n
  return [...(n !== 1 ? [String(n)] : []), ...names].join('*')
}

const flattenDef: OpDef<{ axis: number }> = {
  type: 'Flatten',
  infer: ([x], { axis }) => {
    if (!Number.isInteger(axis) || axis < 0 || axis > x!.shape.length) throw new Error(`axis ${axis} is out of range for rank ${x!.shape.length}`)
    return [{ dtype: x!.dtype, shape: [productDim(x!.shape.slice(0, axis)), productDim(x!.shape.slice(axis))] }]
  },
  attrs: ({ axis }) => ({ axis: { int: axis } }),
  grad: ({ inputs: [x], dOutputs: [g] }) => [reshape(g!, x!.shape, x!)],
}

/**
 * x as a matrix: the dims before `axis` become rows, the rest columns
 * ([B, T, D] at axis 2 → [B·T, D], the rows a linear layer sees). Works with
 * symbolic dims, as ONNX Flatten needs no shape constant.
 */
export function flatten(x: Tensor, axis: number): Tensor {
  return x.graph.apply(flattenDef, [x], { axis: axis < 0 ? axis + x.rank : axis })[0]!
}

// ------------------------------------------------------------------ transpose of the last two axes

function transposeLastTwo(x: Tensor): Tensor {
  const perm = x.shape.map((_, i) => i)
  perm[x.rank - 2] = x.rank - 1
  perm[x.rank - 1] = x.rank - 2
  return transpose(x, perm)
}
