/**
 * x·Wᵀ for a weight kept as Hugging Face stores a Linear: rows [out, in].
 * Training graphs feed the checkpoint's tensors as they are; transposing each
 * weight to [in, out] in the graph made ONNX Runtime materialise the
 * transposed copy in the forward and keep it until the backward's dX = g·W
 * read it: a second copy of every weight for the whole step (measured on the
 * Qwen2.5-0.5B shape with LoRA: 1.4 GB). Here the product is one Gemm with
 * transB on the rows x is flattened to, and the backward reads W itself:
 * dX = g·W, dW = gᵀ·X (already [out, in], no transposed gradient either).
 */
import type { Tensor } from '../graph'
import type { OpDef } from '../op'
import { formatShape, sameDim, type Dim } from '../shape'
import { reshape } from './basic'
import { flatten, gemm } from './matmul'

const rowsGemmDef: OpDef<void> = {
  type: 'Gemm',
  infer: ([x, w]) => {
    if (x!.dtype !== w!.dtype) throw new Error(`dtypes differ: ${x!.dtype} vs ${w!.dtype}`)
    if (x!.shape.length !== 2 || w!.shape.length !== 2) throw new Error('needs 2-D operands')
    const [m, k] = x!.shape as [Dim, Dim]
    const [n, kw] = w!.shape as [Dim, Dim]
    if (!sameDim(k, kw)) throw new Error(`inner dims differ: ${formatShape(x!.shape)} × ${formatShape(w!.shape)}ᵀ contracts ${k} with ${kw}`)
    return [{ dtype: x!.dtype, shape: [m, n] }]
  },
  attrs: () => ({ transA: { int: 0 }, transB: { int: 1 } }),
  grad: ({ inputs: [x, w], dOutputs: [g] }) => [gemm(g!, w!, { transA: false, transB: false }), gemm(g!, x!, { transA: true, transB: false })],
}

/** x [.., in] · wᵀ for w [out, in] → [.., out]. */
export function matmulRows(x: Tensor, w: Tensor): Tensor {
  const rows = x.rank === 2 ? x : flatten(x, x.rank - 1)
  const y = x.graph.apply(rowsGemmDef, [rows, w], undefined)[0]!
  return x.rank === 2 ? y : reshape(y, [...x.shape.slice(0, -1), w.shape[0]!], x)
}
