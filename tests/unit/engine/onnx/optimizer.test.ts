import { describe, expect, it } from 'vitest'
import type { DType } from '../../../../src-main/engine/onnx/dtype'
import type { Node, Tensor } from '../../../../src-main/engine/onnx/graph'
import { add, mul, reduceSum, sub } from '../../../../src-main/engine/onnx/ops/basic'
import { unsqueeze } from '../../../../src-main/engine/onnx/ops/shape'
import { buildTrainStep, trainStepNames as names, type AdamWOptions, type TensorSpec } from '../../../../src-main/engine/onnx/optimizer'
import { toModelProto } from '../../../../src-main/engine/onnx/serialize'
import { loadSession, ort, tensor } from '../../../../src-main/engine/onnx/session'
import { random } from './gradcheck'

// ------------------------------------------------------------------ reference: PyTorch's rules, written out

interface Reference {
  beta1: number
  beta2: number
  eps: number
  weightDecay: number
  maxGradNorm: number
  noDecay: (i: number) => boolean
}

function reference(options: AdamWOptions): Reference {
  return { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxGradNorm: 0, noDecay: () => false, ...options }
}

/** torch.nn.utils.clip_grad_norm_ (in place); returns the norm before clipping. */
function clipGradNorm(grads: number[][], maxNorm: number): number {
  const total = Math.sqrt(grads.reduce((s, g) => s + g.reduce((t, x) => t + x * x, 0), 0))
  if (maxNorm > 0) {
    const coef = Math.min(1, maxNorm / (total + 1e-6))
    for (const g of grads) g.forEach((x, j) => (g[j] = x * coef))
  }
  return total
}

/** One torch.optim.AdamW step (single-tensor path), in place. */
function adamwStep(p: number[][], g: number[][], m: number[][], v: number[][], lr: number, t: number, o: Reference): void {
  p.forEach((param, i) => {
    const decay = o.noDecay(i) ? 0 : o.weightDecay
    const bias1 = 1 - o.beta1 ** t
    const bias2 = 1 - o.beta2 ** t
    param.forEach((x, j) => {
      const grad = g[i]![j]!
      const decayed = x * (1 - lr * decay)
      m[i]![j] = o.beta1 * m[i]![j]! + (1 - o.beta1) * grad
      v[i]![j] = o.beta2 * v[i]![j]! + (1 - o.beta2) * grad * grad
      const denom = Math.sqrt(v[i]![j]!) / Math.sqrt(bias2) + o.eps
      param[j] = decayed - (lr / bias1) * (m[i]![j]! / denom)
    })
  })
}

// ------------------------------------------------------------------ helpers

const size = (shape: readonly (number | string)[]) => (shape as number[]).reduce((a, b) => a * b, 1)

function arrayOf(dtype: DType, values: readonly number[]): Float32Array | Float64Array {
  return dtype === 'float32' ? Float32Array.from(values) : Float64Array.from(values)
}

async function session(graph: Parameters<typeof toModelProto>[0]) {
  return (await loadSession(toModelProto(graph), { intraOpThreads: 1 })).session
}

function read(out: ort.InferenceSession.ReturnType, name: string): number[] {
  const t = out[name]
  if (!t) throw new Error(`no output ${name}`)
  return Array.from(t.data as Float64Array)
}

/** Params of several ranks, including a scalar (its squared norm needs no reduction). */
const specsOf = (dtype: DType): TensorSpec[] => [
  { name: 'w', dtype, shape: [2, 3] },
  { name: 'b', dtype, shape: [3] },
  { name: 's', dtype, shape: [] },
]

interface Run {
  params: number[][]
  norms: number[]
  /** Norm of the reference's gradients each step, to show that clipping did (not) apply. */
  referenceNorms: number[]
  reference: number[][]
}

/**
 * Runs `steps` steps of the compiled 'apply' graph and of the reference on
 * the same random gradients (scaled by `gradScale`), with a decaying lr.
 */
async function runApply(dtype: DType, options: AdamWOptions, gradScale: number, steps = 6): Promise<Run> {
  const specs = specsOf(dtype)
  const { graph, inputNames } = buildTrainStep({ mode: 'apply', params: specs, optimizer: options })
  expect(inputNames).toEqual([...specs.map((s) => names.grad(s.name)), 'w', 'b', 's', 'm.w', 'm.b', 'm.s', 'v.w', 'v.b', 'v.s', 'lr', 'step'])
  const s = await session(graph)
  const rand = random(7)
  const init = specs.map((spec) => Array.from({ length: size(spec.shape) }, () => rand() * 2 - 1))
  const ref = { p: init.map((x) => [...x]), m: init.map((x) => x.map(() => 0)), v: init.map((x) => x.map(() => 0)) }
  let state = { p: init.map((x) => [...x]), m: ref.m.map((x) => [...x]), v: ref.v.map((x) => [...x]) }
  const norms: number[] = []
  const referenceNorms: number[] = []
  for (let t = 1; t <= steps; t++) {
    const grads = specs.map((spec) => Array.from({ length: size(spec.shape) }, () => (rand() * 2 - 1) * gradScale))
    const lr = 0.05 * (1 - t / 10)
    const feeds: Record<string, ort.Tensor> = { lr: tensor(dtype, arrayOf(dtype, [lr]), []), step: tensor(dtype, arrayOf(dtype, [t]), []) }
    specs.forEach((spec, i) => {
      const dims = spec.shape as number[]
      feeds[names.grad(spec.name)] = tensor(dtype, arrayOf(dtype, grads[i]!), dims)
      feeds[spec.name] = tensor(dtype, arrayOf(dtype, state.p[i]!), dims)
      feeds[names.m(spec.name)] = tensor(dtype, arrayOf(dtype, state.m[i]!), dims)
      feeds[names.v(spec.name)] = tensor(dtype, arrayOf(dtype, state.v[i]!), dims)
    })
    const out = await s.run(feeds)
    state = {
      p: specs.map((spec) => read(out, names.newParam(spec.name))),
      m: specs.map((spec) => read(out, names.newM(spec.name))),
      v: specs.map((spec) => read(out, names.newV(spec.name))),
    }
    norms.push(read(out, names.gradNorm)[0]!)
    const o = reference(options)
    referenceNorms.push(clipGradNorm(grads, o.maxGradNorm))
    adamwStep(ref.p, grads, ref.m, ref.v, lr, t, o)
  }
  await s.release()
  return { params: state.p, norms, referenceNorms, reference: ref.p }
}

function expectClose(actual: number[][], expected: number[][], tolerance: number): void {
  expected.forEach((row, i) =>
    row.forEach((x, j) => {
      const error = Math.abs(actual[i]![j]! - x) / Math.max(1, Math.abs(x))
      if (error > tolerance) throw new Error(`param ${i}[${j}]: ${actual[i]![j]} vs reference ${x} (error ${error.toExponential(2)})`)
    }),
  )
}

// ------------------------------------------------------------------ tests

describe('AdamW in the graph follows PyTorch (6 steps against a reference written out in TypeScript)', () => {
  it('float64, default weight decay, no clipping', async () => {
    const run = await runApply('float64', {}, 1)
    expectClose(run.params, run.reference, 1e-12)
    expectClose([run.norms], [run.referenceNorms], 1e-12)
  })

  it('float64, weight decay 0.1 except on one parameter, clipping that triggers every step', async () => {
    const run = await runApply('float64', { weightDecay: 0.1, noDecay: (i) => i === 1, maxGradNorm: 0.5 }, 2)
    expect(Math.min(...run.referenceNorms)).toBeGreaterThan(0.5)
    expectClose(run.params, run.reference, 1e-12)
    expectClose([run.norms], [run.referenceNorms], 1e-12)
  })

  it('float64, no weight decay, clipping threshold that is never reached', async () => {
    const run = await runApply('float64', { weightDecay: 0, maxGradNorm: 100, beta1: 0.8, beta2: 0.99, eps: 1e-6 }, 1)
    expect(Math.max(...run.referenceNorms)).toBeLessThan(100)
    expectClose(run.params, run.reference, 1e-12)
  })

  it('float32, with clipping that triggers', async () => {
    const run = await runApply('float32', { maxGradNorm: 1 }, 3)
    expect(Math.min(...run.referenceNorms)).toBeGreaterThan(1)
    expectClose(run.params, run.reference, 2e-5)
  })

  it('clipping and weight decay change the result (the checks above are not vacuous)', async () => {
    const plain = await runApply('float64', { weightDecay: 0 }, 2, 3)
    const clipped = await runApply('float64', { weightDecay: 0, maxGradNorm: 0.5 }, 2, 3)
    const decayed = await runApply('float64', { weightDecay: 0.5 }, 2, 3)
    expect(clipped.params[0]![0]).not.toBeCloseTo(plain.params[0]![0]!, 6)
    expect(decayed.params[0]![0]).not.toBeCloseTo(plain.params[0]![0]!, 6)
  })
})

/** Every node the tensor depends on. */
function ancestors(t: Tensor): Set<Node> {
  const seen = new Set<Node>()
  const stack = [t]
  while (stack.length) {
    const producer = stack.pop()!.producer
    if (!producer || seen.has(producer)) continue
    seen.add(producer)
    for (const input of producer.inputs) if (input) stack.push(input)
  }
  return seen
}

describe('gradient clipping switch', () => {
  it('maxGradNorm 0 (the default) emits no clipping nodes; the norm is still reported', () => {
    for (const maxGradNorm of [0, undefined]) {
      const { graph, outputNames } = buildTrainStep({ mode: 'apply', params: specsOf('float32'), optimizer: maxGradNorm === undefined ? {} : { maxGradNorm } })
      expect(graph.nodes.filter((n) => n.name.startsWith('clip/') || n.def.type === 'Min')).toEqual([])
      const norm = graph.outputs.find((t) => t.name === names.gradNorm)!
      const normNodes = ancestors(norm)
      for (const out of graph.outputs.filter((t) => t !== norm)) {
        expect([...ancestors(out)].filter((n) => normNodes.has(n) && n.name.startsWith('gradNorm/'))).toEqual([])
      }
      expect(outputNames).toContain(names.gradNorm)
    }
  })

  it('maxGradNorm > 0 makes every update depend on the global norm', () => {
    const { graph } = buildTrainStep({ mode: 'apply', params: specsOf('float32'), optimizer: { maxGradNorm: 1 } })
    expect(graph.nodes.some((n) => n.name.startsWith('clip/'))).toBe(true)
    const newW = graph.outputs.find((t) => t.name === names.newParam('w'))!
    expect([...ancestors(newW)].some((n) => n.name.startsWith('gradNorm/'))).toBe(true)
  })
})

// ------------------------------------------------------------------ training-step graphs

/** Least squares y ≈ x·w + b, summed over the batch, so gradients add across micro-batches. */
const lsParams: TensorSpec[] = [
  { name: 'w', dtype: 'float64', shape: [3, 2] },
  { name: 'b', dtype: 'float64', shape: [2] },
]
const lsBatch: TensorSpec[] = [
  { name: 'x', dtype: 'float64', shape: ['batch', 3] },
  { name: 'y', dtype: 'float64', shape: ['batch', 2] },
]
function leastSquares(p: Record<string, Tensor>, batch: Record<string, Tensor>) {
  const prediction = add(reduceSum(mul(unsqueeze(batch.x!, [2]), p.w!), [1]), p.b!)
  const residual = sub(prediction, batch.y!)
  const sse = reduceSum(mul(residual, residual), [0, 1])
  return { losses: { sse, half: mul(sse, 0.5) }, objective: sse }
}
const lsOptions: AdamWOptions = { weightDecay: 0.05, maxGradNorm: 2 }

/** ∂sse/∂w and ∂sse/∂b, by hand. */
function leastSquaresGrads(w: number[], b: number[], x: number[], y: number[]): number[][] {
  const gw = new Array<number>(6).fill(0)
  const gb = [0, 0]
  for (let r = 0; r < x.length / 3; r++) {
    for (let k = 0; k < 2; k++) {
      let pred = b[k]!
      for (let i = 0; i < 3; i++) pred += x[r * 3 + i]! * w[i * 2 + k]!
      const d = 2 * (pred - y[r * 2 + k]!)
      gb[k]! += d
      for (let i = 0; i < 3; i++) gw[i * 2 + k]! += d * x[r * 3 + i]!
    }
  }
  return [gw, gb]
}

describe('training-step graphs', () => {
  const rand = random(11)
  const values = (n: number) => Array.from({ length: n }, () => rand() * 2 - 1)
  const rows = 4
  const x = values(rows * 3)
  const y = values(rows * 2)
  const init = [values(6), values(2)]
  const f64 = (v: number[], dims: number[]) => tensor('float64', Float64Array.from(v), dims)
  const paramFeeds = (p: number[][]) => Object.fromEntries(lsParams.map((s, i) => [s.name, f64(p[i]!, s.shape as number[])]))
  const stateFeeds = (m: number[][], v: number[][], lr: number, t: number) => ({
    ...Object.fromEntries(lsParams.flatMap((s, i) => [[names.m(s.name), f64(m[i]!, s.shape as number[])], [names.v(s.name), f64(v[i]!, s.shape as number[])]])),
    lr: f64([lr], []),
    step: f64([t], []),
  })
  const batchFeeds = (from: number, to: number) => ({ x: f64(x.slice(from * 3, to * 3), [to - from, 3]), y: f64(y.slice(from * 2, to * 2), [to - from, 2]) })
  const zeros = () => init.map((p) => p.map(() => 0))

  it('names inputs and outputs by the documented convention', () => {
    const step = buildTrainStep({ mode: 'step', params: lsParams, batchInputs: lsBatch, build: leastSquares })
    expect(step.inputNames).toEqual(['x', 'y', 'w', 'b', 'm.w', 'm.b', 'v.w', 'v.b', 'lr', 'step'])
    expect(step.outputNames).toEqual(['loss.sse', 'loss.half', 'objective', 'w.new', 'm.w.new', 'v.w.new', 'b.new', 'm.b.new', 'v.b.new', 'gradNorm'])
    const gradients = buildTrainStep({ mode: 'gradients', params: lsParams, batchInputs: lsBatch, build: leastSquares })
    expect(gradients.inputNames).toEqual(['x', 'y', 'w', 'b'])
    expect(gradients.outputNames).toEqual(['grad.w', 'grad.b', 'loss.sse', 'loss.half', 'objective'])
  })

  it("'step' equals the hand-computed gradient followed by PyTorch's AdamW, over 5 steps", async () => {
    const s = await session(buildTrainStep({ mode: 'step', params: lsParams, batchInputs: lsBatch, build: leastSquares, optimizer: lsOptions }).graph)
    let p = init.map((v) => [...v])
    let m = zeros()
    let v = zeros()
    const ref = { p: init.map((r) => [...r]), m: zeros(), v: zeros() }
    let clippedOnce = false
    for (let t = 1; t <= 5; t++) {
      const out = await s.run({ ...batchFeeds(0, rows), ...paramFeeds(p), ...stateFeeds(m, v, 0.1, t) })
      const grads = leastSquaresGrads(ref.p[0]!, ref.p[1]!, x, y)
      const norm = clipGradNorm(grads, lsOptions.maxGradNorm!)
      clippedOnce ||= norm > lsOptions.maxGradNorm!
      expect(read(out, 'gradNorm')[0]).toBeCloseTo(norm, 10)
      adamwStep(ref.p, grads, ref.m, ref.v, 0.1, t, reference(lsOptions))
      p = lsParams.map((sp) => read(out, names.newParam(sp.name)))
      m = lsParams.map((sp) => read(out, names.newM(sp.name)))
      v = lsParams.map((sp) => read(out, names.newV(sp.name)))
      expectClose(p, ref.p, 1e-12)
    }
    expect(clippedOnce).toBe(true)
    await s.release()
  })

  it("'gradients' on two micro-batches, summed, then 'apply' equals 'step' on the whole batch", async () => {
    const common = { params: lsParams, batchInputs: lsBatch, build: leastSquares, optimizer: lsOptions }
    const step = await session(buildTrainStep({ ...common, mode: 'step' }).graph)
    const gradients = await session(buildTrainStep({ ...common, mode: 'gradients' }).graph)
    const apply = await session(buildTrainStep({ ...common, mode: 'apply' }).graph)
    let whole = { p: init.map((r) => [...r]), m: zeros(), v: zeros() }
    let micro = { p: init.map((r) => [...r]), m: zeros(), v: zeros() }
    for (let t = 1; t <= 5; t++) {
      const lr = 0.1 / t
      const out = await step.run({ ...batchFeeds(0, rows), ...paramFeeds(whole.p), ...stateFeeds(whole.m, whole.v, lr, t) })
      whole = {
        p: lsParams.map((s) => read(out, names.newParam(s.name))),
        m: lsParams.map((s) => read(out, names.newM(s.name))),
        v: lsParams.map((s) => read(out, names.newV(s.name))),
      }

      const first = await gradients.run({ ...batchFeeds(0, 1), ...paramFeeds(micro.p) })
      const second = await gradients.run({ ...batchFeeds(1, rows), ...paramFeeds(micro.p) })
      expect(read(first, 'loss.sse')[0]! + read(second, 'loss.sse')[0]!).toBeCloseTo(read(out, 'loss.sse')[0]!, 12)
      const summed = lsParams.map((s) => read(first, names.grad(s.name)).map((g, j) => g + read(second, names.grad(s.name))[j]!))
      const applied = await apply.run({
        ...Object.fromEntries(lsParams.map((s, i) => [names.grad(s.name), f64(summed[i]!, s.shape as number[])])),
        ...paramFeeds(micro.p),
        ...stateFeeds(micro.m, micro.v, lr, t),
      })
      micro = {
        p: lsParams.map((s) => read(applied, names.newParam(s.name))),
        m: lsParams.map((s) => read(applied, names.newM(s.name))),
        v: lsParams.map((s) => read(applied, names.newV(s.name))),
      }
      expect(read(applied, 'gradNorm')[0]).toBeCloseTo(read(out, 'gradNorm')[0]!, 12)
      expectClose(micro.p, whole.p, 1e-12)
      expectClose(micro.m, whole.m, 1e-12)
      expectClose(micro.v, whole.v, 1e-12)
    }
    await Promise.all([step.release(), gradients.release(), apply.release()])
  })

  it('refuses a forward mode without a build function', () => {
    expect(() => buildTrainStep({ mode: 'gradients', params: lsParams })).toThrow(/mode 'gradients' needs a build function/)
  })
})
