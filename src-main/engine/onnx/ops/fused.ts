/**
 * Ops whose backward is not the chain rule through their forward nodes:
 * `stopGradient`, `withGradient` (attach a hand-built backward), and the
 * fused LM head + cross-entropy that recomputes its logits in backward so
 * that no [tokens, vocab] tensor is kept from the forward pass — with one
 * exit per layer, SoFT would otherwise hold one such tensor per exit.
 */
import type { Tensor } from '../graph'
import type { OpDef } from '../op'
import { add, div } from './basic'
import { atLeastOne, countedTargets, crossEntropyLogitsGrad, summedCrossEntropy } from './loss'
import { gemm } from './matmul'
import { availableAfter } from './ordering'
import { concat, slice } from './shape'

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

/**
 * Values of one chunk's [rows, vocab] logits: 8 M floats (32 MB). On a
 * 152k vocabulary a 512-token exit's logits are 310 MB, and the loss and its
 * gradient hold two or three such tensors at once (softmax, the scaled
 * probabilities): over 1 GB above everything else, measured on the
 * Qwen2.5-0.5B shape. In chunks of rows, one chunk at a time, that is about
 * 100 MB whatever the vocabulary. (16 M values: the Llama-3.2-1B QLoRA step
 * peaked 111 MiB higher and no faster; 4 M: 46 MiB lower, slower.)
 */
export const logitChunkValues = 8 * 1024 * 1024

export interface LinearCrossEntropyOptions {
  ignoreIndex?: number
  /** Rows of logits computed at once (default: as many as fit {@link logitChunkValues}). */
  chunkRows?: number
}

/**
 * Mean token cross-entropy of logits = hidden · weightᵀ, for hidden [N, d],
 * weight [vocab, d] (an LM head, Hugging Face layout) and int64 targets [N].
 * No [N, vocab] tensor is kept for the backward, which recomputes the logits
 * (one extra product). Rows go in chunks (see {@link logitChunkValues}), each
 * chunk's logits computed only once the previous chunk is done with its own
 * (ops/ordering.ts availableAfter), in the forward and in the backward alike.
 */
export function linearCrossEntropy(hidden: Tensor, weight: Tensor, targets: Tensor, options: LinearCrossEntropyOptions = {}): LinearCrossEntropy {
  const ignoreIndex = options.ignoreIndex ?? -100
  const [rows, vocab] = [hidden.shape[0]!, weight.shape[0]!]
  if (typeof rows !== 'number' || typeof vocab !== 'number') throw new Error('linearCrossEntropy needs static row and vocabulary sizes')
  const chunkRows = Math.max(1, Math.min(rows, options.chunkRows ?? Math.floor(logitChunkValues / vocab)))
  const chunks: [number, number][] = []
  for (let start = 0; start < rows; start += chunkRows) chunks.push([start, Math.min(rows, start + chunkRows)])
  const rowsOf = (x: Tensor, [start, end]: [number, number]) => (chunks.length === 1 ? x : slice(x, { starts: [start], ends: [end], axes: [0] }))

  const frozenHidden = stopGradient(hidden)
  const frozenWeight = stopGradient(weight)
  let total: Tensor | undefined
  for (const chunk of chunks) {
    const h = rowsOf(frozenHidden, chunk)
    // Gemm reads the [vocab, d] head in place (a MatMul would want it transposed).
    const logits = gemm(total ? availableAfter(h, total) : h, frozenWeight, { transA: false, transB: true })
    const chunkTotal = summedCrossEntropy(logits, rowsOf(targets, chunk), ignoreIndex)
    total = total ? add(total, chunkTotal) : chunkTotal
  }
  const count = countedTargets(targets, ignoreIndex, hidden.dtype)
  const loss = div(total!, atLeastOne(count))
  const withGrad = withGradient(loss, [hidden, weight], (g) => {
    const scale = div(g, atLeastOne(count))
    const dHidden: Tensor[] = []
    let dWeight: Tensor | undefined
    for (const chunk of chunks) {
      const previous = dHidden.at(-1)
      // Held back until the previous chunk's gradient exists; a new tensor, so common-subexpression elimination cannot merge it with the forward's.
      const h = availableAfter(rowsOf(hidden, chunk), previous ?? scale)
      const recomputed = gemm(h, weight, { transA: false, transB: true })
      const dLogits = crossEntropyLogitsGrad(recomputed, rowsOf(targets, chunk), scale, ignoreIndex)
      dHidden.push(gemm(dLogits, weight, { transA: false, transB: false }))
      // Each chunk's head gradient is added onto the sum so far by the product itself: no [vocab, d] tensor per chunk.
      dWeight = gemm(dLogits, h, { transA: true, transB: false }, dWeight)
    }
    return [dHidden.length === 1 ? dHidden[0]! : concat(dHidden, 0), dWeight!]
  })
  return { loss: withGrad, count }
}
