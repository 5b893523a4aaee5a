/**
 * Checks a graph's reverse-mode gradients against central finite
 * differences computed by running the forward graph in ONNX Runtime.
 *
 * The op's outputs are folded into a scalar with fixed random weights,
 * loss = Σ w ⊙ y, so every output element influences the check.
 */
import { mulberry32 } from '../../../../src-main/engine/data/random'
import { grad } from '../../../../src-main/engine/onnx/autodiff'
import type { AnyTypedArray, DType } from '../../../../src-main/engine/onnx/dtype'
import { Graph, type Tensor } from '../../../../src-main/engine/onnx/graph'
import { add, cast, mul, reduceSum } from '../../../../src-main/engine/onnx/ops/basic'
import { toModelProto } from '../../../../src-main/engine/onnx/serialize'
import { loadSession, tensor } from '../../../../src-main/engine/onnx/session'

export interface InputSpec {
  shape: number[]
  dtype?: DType
  /** Values; default: seeded uniform in [-1, 1] (or `range`). */
  data?: AnyTypedArray
  range?: [number, number]
  /** Default true for float inputs. */
  differentiable?: boolean
}

export interface GradcheckOptions {
  eps?: number
  /** Max allowed |analytic − numeric| / max(1, |numeric|). */
  tolerance?: number
  seed?: number
}

export interface GradcheckResult {
  maxError: number
  checked: number
  analytic: Float64Array[]
  numeric: Float64Array[]
}

/** Deterministic PRNG (the engine's mulberry32), so a failing check reproduces. */
export const random = mulberry32

function size(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1)
}

export async function gradcheck(
  specs: InputSpec[],
  build: (...inputs: Tensor[]) => Tensor | Tensor[],
  options: GradcheckOptions = {},
): Promise<GradcheckResult> {
  const eps = options.eps ?? 1e-6
  const tolerance = options.tolerance ?? 1e-6
  const rand = random(options.seed ?? 1234)
  const values = specs.map((spec) => {
    if (spec.data) return spec.data
    const [lo, hi] = spec.range ?? [-1, 1]
    return Float64Array.from({ length: size(spec.shape) }, () => lo + (hi - lo) * rand())
  })

  const graph = new Graph('gradcheck')
  const inputs = specs.map((spec, i) => graph.input(`x${i}`, spec.dtype ?? 'float64', spec.shape))
  const built = build(...inputs)
  const outputs = Array.isArray(built) ? built : [built]
  let loss: Tensor | undefined
  outputs.forEach((y, k) => {
    const shape = y.shape as number[]
    const weights = Float64Array.from({ length: size(shape) }, () => rand() * 2 - 1)
    const w = graph.constant(weights, 'float64', shape)
    const yf = cast(y, 'float64')
    const term = shape.length ? reduceSum(mul(yf, w), shape.map((_, a) => a)) : mul(yf, w)
    loss = k === 0 ? term : add(loss!, term)
  })
  const differentiable = specs.map((s, i) => ((s.differentiable ?? (s.dtype ?? 'float64').startsWith('float')) ? i : -1)).filter((i) => i >= 0)
  const grads = grad(loss!, differentiable.map((i) => inputs[i]!))
  graph.output(loss!, 'loss')
  grads.forEach((g, k) => graph.output(g, `grad${k}`))
  const { session } = await loadSession(toModelProto(graph))

  const feeds = (vals: AnyTypedArray[]) =>
    Object.fromEntries(specs.map((spec, i) => [`x${i}`, tensor(spec.dtype ?? 'float64', vals[i]!, spec.shape)]))
  const base = await session.run(feeds(values))
  const analytic = grads.map((_, k) => Float64Array.from(base[`grad${k}`]!.data as Float64Array))

  let maxError = 0
  let checked = 0
  const numeric: Float64Array[] = []
  for (const [k, i] of differentiable.entries()) {
    const x = values[i] as Float64Array
    const n = new Float64Array(x.length)
    for (let j = 0; j < x.length; j++) {
      const orig = x[j]!
      x[j] = orig + eps
      const plus = Number((await session.run(feeds(values))).loss!.data[0])
      x[j] = orig - eps
      const minus = Number((await session.run(feeds(values))).loss!.data[0])
      x[j] = orig
      n[j] = (plus - minus) / (2 * eps)
      const error = Math.abs(analytic[k]![j]! - n[j]!) / Math.max(1, Math.abs(n[j]!))
      maxError = Math.max(maxError, error)
      checked++
    }
    numeric.push(n)
  }
  await session.release()
  if (maxError > tolerance) throw new Error(`gradient check failed: max error ${maxError.toExponential(3)} > ${tolerance}`)
  return { maxError, checked, analytic, numeric }
}
