/**
 * Ordering the backward pass without changing its values. ONNX Runtime runs
 * a node as soon as its inputs exist, so a backward node whose inputs all
 * exist from the start (a frozen weight's codes, an activation saved in the
 * forward) may run long before its result is needed, and what it makes then
 * stays alive until then. `availableAfter` ties such a node to its place.
 */
import type { Tensor } from '../graph'
import type { OpDef } from '../op'
import { reduceSum, reshape } from './basic'
import { concat, slice } from './shape'

const isNaNDef: OpDef<void> = { type: 'IsNaN', infer: ([x]) => [{ dtype: 'bool', shape: x!.shape }] }
/** Where(cond, x, x) with cond of x's rank: x, never differentiated (it is built inside gradient rules). */
const passThroughDef: OpDef<void> = { type: 'Where', infer: ([, x]) => [x!] }

/** One element of `x` (its first), as a tensor of x's rank: enough to make a node wait for x. */
function firstElement(x: Tensor): Tensor {
  return x.rank === 0 ? x : slice(x, { starts: x.shape.map(() => 0), ends: x.shape.map(() => 1) })
}

/**
 * `x` itself, as a tensor that only exists once `signal` does. Measured on
 * QLoRA: every layer's backward dequantization ran before the forward, and
 * all the fp32 weights stayed alive until their backward products; and a
 * recomputed layer (autodiff.ts) would rebuild its activations at the start
 * of the backward, holding them all again. Reading one element of `signal`
 * (the gradient arriving at the layer) ties the node to its place in the
 * backward pass. Where(isNaN(s), x, x) is x whatever s holds, and nothing
 * folds it away (it depends on data); being a new tensor, nothing merges
 * what is computed from it with the forward's nodes either.
 */
export function availableAfter(x: Tensor, signal: Tensor): Tensor {
  const cond = x.graph.apply(isNaNDef, [reshape(firstElement(signal), x.shape.map(() => 1))], undefined)[0]!
  return x.graph.apply(passThroughDef, [cond, x, x], undefined)[0]!
}

/**
 * `x`, once every one of `signals` exists (see availableAfter): one element
 * of each, summed, is the signal. A layer's gradient flows on to the layer
 * below only once that layer's weight gradients are computed: else ONNX
 * Runtime schedules those products (which nothing else waits for) at the end
 * of the backward pass, and every layer's activations they read stay alive
 * until then (measured on the Qwen2.5-0.5B shape with recomputation: 55 MB a
 * layer).
 */
export function availableAfterAll(x: Tensor, signals: readonly Tensor[]): Tensor {
  if (signals.length === 0) return x
  if (signals.length === 1) return availableAfter(x, signals[0]!)
  const firsts = signals.map((s) => reshape(firstElement(s), [1]))
  return availableAfter(x, reduceSum(concat(firsts, 0), [0]))
}
