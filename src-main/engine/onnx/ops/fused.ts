/**
 * Ops whose backward is not the chain rule through their forward nodes:
 * `stopGradient`, `withGradient` (attach a hand-built backward), and the
 * fused LM head + cross-entropy that recomputes its logits in backward so
 * that no [tokens, vocab] tensor is kept from the forward pass — with one
 * exit per layer, SoFT would otherwise hold one such tensor per exit.
 */
import type { Tensor } from '../graph'
import type { OpDef } from '../op'
import { div } from './basic'
import { atLeastOne, crossEntropy, crossEntropyLogitsGrad } from './loss'
import { gemm, matmul } from './matmul'
import { transpose } from './shape'

const stopGradientDef: OpDef<void> = {
  type: 'Identity',
  infer: ([x]) => [x!],
  grad: () => [undefined],
}

/** x, with no gradient flowing back through it. */
export function stopGradient(x: Tensor): Tensor {
  return x.graph.apply(stopGradientDef, [x], undefined)[0]!
}

interface WithGradientParams {
  backward: (g: Tensor) => (Tensor | undefined)[]
}

/** Identity of its first input; the others are there only so autodiff reaches them. */
function withGradientDef(gradientOnlyInputs: number): OpDef<WithGradientParams> {
  return {
    type: 'Identity',
    gradientOnlyInputs,
    infer: ([value]) => [value!],
    grad: ({ params, dOutputs: [g] }) => [undefined, ...params.backward(g!)],
  }
}

/**
 * `value` (computed without gradients), whose gradient with respect to each
 * of `inputs` is what `backward(dValue)` returns.
 */
export function withGradient(value: Tensor, inputs: readonly Tensor[], backward: (g: Tensor) => (Tensor | undefined)[]): Tensor {
  return value.graph.apply(withGradientDef(inputs.length), [value, ...inputs], { backward })[0]!
}

export interface LinearCrossEntropy {
  loss: Tensor
  count: Tensor
}

export interface LinearCrossEntropyOptions {
  /**
   * Keep the forward's logits for the backward instead of recomputing them.
   * Right for the loss whose backward runs first, straight after its own
   * forward (the deepest exit of a training graph): its logits are kept only
   * across that gap, and it saves one [N, d]×[d, vocab] product, a quarter of
   * the head's work (bench shape, 4-layer SFT gradients graph: 4.22 → 3.85 s,
   * the same outputs bit for bit, peak RSS +204 MB for 131 MB of logits).
   * Default false: an earlier exit's logits would stay alive through every
   * deeper layer's forward and backward.
   */
  keepLogits?: boolean
}

/**
 * Mean token cross-entropy of logits = hidden · weightᵀ, for hidden [N, d],
 * weight [vocab, d] (an LM head, Hugging Face layout) and int64 targets [N].
 * The backward recomputes the logits (one extra [N, d]×[d, vocab] product)
 * and frees them before the next exit's backward runs, unless `keepLogits`.
 */
export function linearCrossEntropy(hidden: Tensor, weight: Tensor, targets: Tensor, ignoreIndex = -100, options: LinearCrossEntropyOptions = {}): LinearCrossEntropy {
  if (options.keepLogits) return crossEntropy(matmul(hidden, transpose(weight, [1, 0])), targets, { ignoreIndex })
  const logits = matmul(stopGradient(hidden), transpose(stopGradient(weight), [1, 0]))
  const { loss, count } = crossEntropy(logits, targets, { ignoreIndex })
  const withGrad = withGradient(loss, [hidden, weight], (g) => {
    // A different op (Gemm) from the forward's MatMul, so ONNX Runtime's
    // common-subexpression elimination cannot merge the two and keep the
    // forward logits alive until backward.
    const recomputed = gemm(hidden, weight, { transA: false, transB: true })
    const scale = div(g, atLeastOne(count))
    const dLogits = crossEntropyLogitsGrad(recomputed, targets, scale, ignoreIndex)
    return [gemm(dLogits, weight, { transA: false, transB: false }), gemm(dLogits, hidden, { transA: true, transB: false })]
  })
  return { loss: withGrad, count }
}
