/**
 * AdamW as graph nodes, so that a whole training step (forward, backward,
 * update) is one ordinary ONNX graph: ONNX Runtime for Node has no training
 * API, and running the update in the graph keeps parameters and moments on
 * the device between steps.
 *
 * The update is PyTorch's (torch.optim.AdamW, then torch.nn.utils.clip_grad_norm_
 * semantics for clipping), so runs compare with PyTorch ones:
 *
 *   g ← g · min(1, maxGradNorm / (‖g‖ + 1e-6))   over all grads together; only when maxGradNorm > 0
 *   p ← p · (1 − lr · weightDecay)               decoupled decay, before the Adam step
 *   m ← β1·m + (1 − β1)·g
 *   v ← β2·v + (1 − β2)·g²
 *   p ← p − lr/(1 − β1^t) · m / (√v / √(1 − β2^t) + eps)
 *
 * `lr` and the step `t` (counting from 1) are scalar graph inputs, so a
 * learning-rate schedule never recompiles the graph.
 *
 * The trainer runs only the 'gradients' graphs and applies the same update
 * in place in JavaScript (engine/train/adamw-in-place.ts, held equal to the
 * 'apply' graph by its test): through ONNX Runtime for Node every updated
 * weight and moment comes back as a new copy.
 */
import { grad } from './autodiff'
import type { DType } from './dtype'
import { GraphError } from './errors'
import { Graph, type Tensor } from './graph'
import type { OpDef } from './op'
import { add, cast, div, mul, pow, reduceSum, sqrt, sub, sum } from './ops/basic'
import { formatShape, sameShape, type Shape } from './shape'

export interface AdamWOptions {
  /** Default 0.9. */
  beta1?: number
  /** Default 0.999. */
  beta2?: number
  /** Default 1e-8. */
  eps?: number
  /** Decoupled weight decay; default 0.01 (PyTorch's). 0 emits no decay nodes. */
  weightDecay?: number
  /** Global-norm clipping threshold; default 0, which disables clipping (no clipping nodes at all). */
  maxGradNorm?: number
  /** Parameters (by index) to exclude from weight decay, e.g. norms and biases. */
  noDecay?: (index: number) => boolean
}

export interface AdamWState {
  m: readonly Tensor[]
  v: readonly Tensor[]
}

export interface AdamWScalars {
  /** Learning rate, a float scalar. */
  lr: Tensor
  /** Step number t, counting from 1, a float scalar (bias correction uses β^t). */
  step: Tensor
}

export interface AdamWResult {
  params: Tensor[]
  m: Tensor[]
  v: Tensor[]
  /** Global gradient norm before clipping (computed for reporting even when clipping is off), in lr's dtype. */
  gradNorm: Tensor
}

// Min exists here only for the clipping coefficient: the optimizer's nodes
// are never differentiated, so it needs no gradient rule (ties would).
const minDef: OpDef<void> = {
  type: 'Min',
  infer: ([a, b]) => {
    if (a!.dtype !== b!.dtype || a!.shape.length !== 0 || b!.shape.length !== 0) throw new Error('expects two scalars of one dtype')
    return [a!]
  },
}

/** √(Σ‖g‖²) over all grads, in `dtype`. */
function globalNorm(grads: readonly Tensor[], dtype: DType): Tensor {
  const squares = grads.map((g) => {
    const sq = mul(g, g)
    return cast(
      sq.rank === 0 ? sq : reduceSum(sq, sq.shape.map((_, a) => a)),
      dtype,
    )
  })
  return sqrt(sum(squares))
}

export function adamw(
  params: readonly Tensor[],
  grads: readonly Tensor[],
  state: AdamWState,
  scalars: AdamWScalars,
  options: AdamWOptions = {},
): AdamWResult {
  const { beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0.01, maxGradNorm = 0, noDecay = () => false } = options
  const first = params[0]
  if (!first) throw new GraphError('AdamW', 'adamw', 'no parameters to update')
  const graph = first.graph
  if (grads.length !== params.length || state.m.length !== params.length || state.v.length !== params.length) {
    throw new GraphError('AdamW', 'adamw', `${params.length} parameters but ${grads.length} gradients, ${state.m.length} m, ${state.v.length} v`)
  }
  params.forEach((p, i) => {
    for (const [what, t] of [['gradient', grads[i]], ['m', state.m[i]], ['v', state.v[i]]] as const) {
      if (!t) throw new GraphError('AdamW', p.name, `has no ${what}`)
      if (t.dtype !== p.dtype || !sameShape(t.shape, p.shape)) {
        throw new GraphError('AdamW', p.name, `${what} is ${t.dtype}${formatShape(t.shape)}, the parameter ${p.dtype}${formatShape(p.shape)}`)
      }
    }
  })
  for (const [name, t] of Object.entries(scalars)) {
    if (t.shape.length !== 0) throw new GraphError('AdamW', name, `must be a scalar, got ${formatShape(t.shape)}`)
  }

  const dtype = scalars.lr.dtype
  const lr = scalars.lr
  const step = cast(scalars.step, dtype)

  const gradNorm = graph.scope('gradNorm', () => globalNorm(grads, dtype))
  const clipped =
    maxGradNorm > 0
      ? graph.scope('clip', () => {
          const one = graph.scalar(1, dtype)
          const coef = graph.apply(minDef, [div(maxGradNorm, add(gradNorm, 1e-6)), one], undefined)[0]!
          return grads.map((g) => mul(g, cast(coef, g.dtype)))
        })
      : grads

  // Step-wide coefficients, computed once and cast once per parameter dtype.
  const coefficients = graph.scope('adamw', () => ({
    stepSize: div(lr, sub(1, pow(graph.scalar(beta1, dtype), step))),
    sqrtBias2: sqrt(sub(1, pow(graph.scalar(beta2, dtype), step))),
    decay: weightDecay !== 0 ? sub(1, mul(lr, weightDecay)) : undefined,
  }))
  const casts = new Map<string, Tensor>()
  const coefficient = (key: keyof typeof coefficients, to: DType): Tensor => {
    const cached = casts.get(`${key}|${to}`)
    if (cached) return cached
    const t = graph.scope('adamw', () => cast(coefficients[key]!, to))
    casts.set(`${key}|${to}`, t)
    return t
  }

  const result: AdamWResult = { params: [], m: [], v: [], gradNorm }
  params.forEach((p, i) => {
    graph.scope(`adamw/${p.name}`, () => {
      const g = clipped[i]!
      const decayed = coefficients.decay && !noDecay(i) ? mul(p, coefficient('decay', p.dtype)) : p
      const m = add(state.m[i]!, mul(sub(g, state.m[i]!), 1 - beta1))
      const v = add(mul(state.v[i]!, beta2), mul(mul(g, g), 1 - beta2))
      const denom = add(div(sqrt(v), coefficient('sqrtBias2', p.dtype)), eps)
      result.params.push(sub(decayed, mul(coefficient('stepSize', p.dtype), div(m, denom))))
      result.m.push(m)
      result.v.push(v)
    })
  })
  return result
}

// ------------------------------------------------------------------ training-step graphs

/**
 * Names of a training-step graph's inputs and outputs; the trainer feeds and
 * fetches by them.
 *
 *   batch inputs       their own names (`batchInputs[].name`)
 *   parameter          `${name}`                      updated: `${name}.new`
 *   frozen input       `${name}`                      never updated (no gradient, no moments)
 *   AdamW moments      `m.${name}`, `v.${name}`       updated: `m.${name}.new`, `v.${name}.new`
 *   gradient           `grad.${name}`                 ('gradients' outputs, 'apply' inputs)
 *   learning rate      `lr`    step t (from 1): `step`    (scalars, dtype `scalarDtype`)
 *   loss               `loss.${key}` per key of build's `losses`, and `objective` (the differentiated one)
 *   gradient norm      `gradNorm` (global, before clipping; 'step' and 'apply')
 */
export const trainStepNames = {
  param: (name: string) => name,
  newParam: (name: string) => `${name}.new`,
  m: (name: string) => `m.${name}`,
  newM: (name: string) => `m.${name}.new`,
  v: (name: string) => `v.${name}`,
  newV: (name: string) => `v.${name}.new`,
  grad: (name: string) => `grad.${name}`,
  loss: (key: string) => `loss.${key}`,
  objective: 'objective',
  lr: 'lr',
  step: 'step',
  gradNorm: 'gradNorm',
} as const

export interface TensorSpec {
  name: string
  dtype: DType
  shape: Shape
}

/**
 * - 'step': forward + backward + AdamW in one graph.
 *   In: batch, params, m, v, lr, step. Out: new params, new m, new v, losses, objective, gradNorm.
 * - 'gradients': forward + backward only, for accumulating micro-batches.
 *   In: batch, params. Out: grads, losses, objective.
 * - 'apply': AdamW on gradients the caller has summed or averaged.
 *   In: grads, params, m, v, lr, step. Out: new params, new m, new v, gradNorm.
 */
export type TrainStepMode = 'step' | 'gradients' | 'apply'

export interface TrainStepOutputs {
  losses: Record<string, Tensor>
  /** The scalar that is differentiated (e.g. a weighted sum of the losses). */
  objective: Tensor
}

export interface TrainStepOptions {
  mode: TrainStepMode
  params: readonly TensorSpec[]
  /** Needed by 'step' and 'gradients'. */
  batchInputs?: readonly TensorSpec[]
  /**
   * Inputs the forward pass reads but never updates (a LoRA run's base weights): named as given,
   * no gradient, no moments, no new value. 'step' and 'gradients' only.
   */
  frozen?: readonly TensorSpec[]
  /** The forward pass; needed by 'step' and 'gradients'. Receives the parameters and frozen inputs keyed by spec name. */
  build?: (params: Record<string, Tensor>, batch: Record<string, Tensor>) => TrainStepOutputs
  /** AdamW settings; `noDecay` indexes `params`. */
  optimizer?: AdamWOptions
  /** dtype of `lr` and `step`; default the first parameter's. */
  scalarDtype?: DType
  name?: string
  /** com.microsoft ops the forward may use (each probed on the provider first, onnx/contrib.ts). */
  contribOps?: ReadonlySet<string>
}

export interface TrainStepGraph {
  graph: Graph
  mode: TrainStepMode
  /** Graph input names, in graph order. */
  inputNames: string[]
  /** Graph output names, in graph order. */
  outputNames: string[]
}

export function buildTrainStep(options: TrainStepOptions): TrainStepGraph {
  const { mode, params: specs, batchInputs = [], optimizer = {} } = options
  const names = trainStepNames
  const graph = new Graph(options.name ?? `train-${mode}`, options.contribOps)
  const scalarDtype = options.scalarDtype ?? specs[0]?.dtype ?? 'float32'
  const inputs = (prefix: (n: string) => string) => specs.map((s) => graph.input(prefix(s.name), s.dtype, s.shape))

  const suppliedGrads = mode === 'apply' ? inputs(names.grad) : []
  const batch: Record<string, Tensor> = {}
  if (mode !== 'apply') for (const s of batchInputs) batch[s.name] = graph.input(s.name, s.dtype, s.shape)
  const params = inputs(names.param)
  const frozen = mode === 'apply' ? [] : (options.frozen ?? []).map((s) => [s.name, graph.input(s.name, s.dtype, s.shape)] as const)
  const state = mode === 'gradients' ? undefined : { m: inputs(names.m), v: inputs(names.v) }
  const scalars = mode === 'gradients' ? undefined : { lr: graph.input(names.lr, scalarDtype, []), step: graph.input(names.step, scalarDtype, []) }

  let grads = suppliedGrads
  if (mode !== 'apply') {
    if (!options.build) throw new GraphError('TrainStep', graph.name, `mode '${mode}' needs a build function`)
    const { losses, objective } = graph.scope('forward', () => options.build!({ ...Object.fromEntries(frozen), ...Object.fromEntries(specs.map((s, i) => [s.name, params[i]!])) }, batch))
    grads = grad(objective, params)
    if (mode === 'gradients') grads.forEach((g, i) => graph.output(g, names.grad(specs[i]!.name)))
    for (const [key, loss] of Object.entries(losses)) graph.output(loss, names.loss(key))
    graph.output(objective, names.objective)
  }
  if (state && scalars) {
    const updated = adamw(params, grads, state, scalars, optimizer)
    specs.forEach((s, i) => {
      graph.output(updated.params[i]!, names.newParam(s.name))
      graph.output(updated.m[i]!, names.newM(s.name))
      graph.output(updated.v[i]!, names.newV(s.name))
    })
    graph.output(updated.gradNorm, names.gradNorm)
  }
  return { graph, mode, inputNames: graph.inputs.map((t) => t.name), outputNames: graph.outputs.map((t) => t.name) }
}
