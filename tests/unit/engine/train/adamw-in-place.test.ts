import { describe, expect, it } from 'vitest'
import { buildTrainStep, trainStepNames as names, type TensorSpec } from '../../../../src-main/engine/onnx/optimizer'
import { toModelProto } from '../../../../src-main/engine/onnx/serialize'
import { loadSession, tensor } from '../../../../src-main/engine/onnx/session'
import { adamwStep, type AdamWBuffers } from '../../../../src-main/engine/train/adamw-in-place'
import { random } from '../onnx/gradcheck'

/** Tensors of several sizes, one value alone among them; `n` is excluded from weight decay (a norm). */
const specs: TensorSpec[] = [
  { name: 'w', dtype: 'float32', shape: [7, 5] },
  { name: 'n', dtype: 'float32', shape: [5] },
  { name: 'b', dtype: 'float32', shape: [1] },
  { name: 'u', dtype: 'float32', shape: [3, 11] },
]
const noDecay = (i: number) => specs[i]!.name === 'n'
const size = (s: TensorSpec) => (s.shape as number[]).reduce((a, b) => a * b, 1)

interface Settings {
  weightDecay: number
  maxGradNorm: number
  gradScale: number
}

/** torch.nn.utils.clip_grad_norm_ then torch.optim.AdamW, written out in float64: the norm before clipping. */
function reference(tensors: { param: number[]; m: number[]; v: number[]; noDecay: boolean }[], grads: Float32Array[], lr: number, t: number, { weightDecay, maxGradNorm }: Settings): number {
  const norm = Math.sqrt(grads.reduce((s, g) => s + g.reduce((a, x) => a + x * x, 0), 0))
  const clip = maxGradNorm > 0 ? Math.min(1, maxGradNorm / (norm + 1e-6)) : 1
  tensors.forEach((x, i) => {
    x.param.forEach((p, j) => {
      const g = grads[i]![j]! * clip
      x.m[j] = 0.9 * x.m[j]! + 0.1 * g
      x.v[j] = 0.999 * x.v[j]! + 0.001 * g * g
      const denom = Math.sqrt(x.v[j]!) / Math.sqrt(1 - 0.999 ** t) + 1e-8
      x.param[j] = p * (1 - lr * (x.noDecay ? 0 : weightDecay)) - (lr / (1 - 0.9 ** t)) * (x.m[j]! / denom)
    })
  })
  return norm
}

/**
 * `steps` AdamW steps on the same random start and gradients: in place, through the all-at-once 'apply' graph
 * the trainer used before (float32 in ONNX Runtime), and by the float64 reference; their parameters, moments and norms.
 */
async function both({ weightDecay, maxGradNorm, gradScale }: Settings, steps = 5) {
  const rand = random(11)
  const fill = (s: TensorSpec, scale: number) => Float32Array.from({ length: size(s) }, () => (rand() * 2 - 1) * scale)
  const start = specs.map((s) => fill(s, 1))
  const inPlace: AdamWBuffers[] = specs.map((s, i) => ({ param: start[i]!.slice(), m: new Float32Array(size(s)), v: new Float32Array(size(s)), grad: new Float32Array(size(s)), noDecay: noDecay(i) }))
  let graph: { param: Float32Array; m: Float32Array; v: Float32Array }[] = specs.map((_, i) => ({ param: start[i]!.slice(), m: new Float32Array(size(specs[i]!)), v: new Float32Array(size(specs[i]!)) }))
  const ref = specs.map((s, i) => ({ param: Array.from(start[i]!), m: new Array<number>(size(s)).fill(0), v: new Array<number>(size(s)).fill(0), noDecay: noDecay(i) }))
  const { session } = await loadSession(toModelProto(buildTrainStep({ mode: 'apply', params: specs, optimizer: { weightDecay, maxGradNorm, noDecay } }).graph), { intraOpThreads: 1 })
  const norms: { inPlace: number; graph: number; reference: number }[] = []
  for (let t = 1; t <= steps; t++) {
    const grads = specs.map((s) => fill(s, gradScale))
    const lr = 0.05 * (1 - t / 10)
    const feeds: Record<string, ReturnType<typeof tensor>> = { lr: tensor('float32', Float32Array.of(lr), []), step: tensor('float32', Float32Array.of(t), []) }
    specs.forEach((s, i) => {
      const dims = s.shape as number[]
      feeds[names.grad(s.name)] = tensor('float32', grads[i]!, dims)
      feeds[names.param(s.name)] = tensor('float32', graph[i]!.param, dims)
      feeds[names.m(s.name)] = tensor('float32', graph[i]!.m, dims)
      feeds[names.v(s.name)] = tensor('float32', graph[i]!.v, dims)
    })
    const out = await session.run(feeds)
    graph = specs.map((s) => ({ param: out[names.newParam(s.name)]!.data as Float32Array, m: out[names.newM(s.name)]!.data as Float32Array, v: out[names.newV(s.name)]!.data as Float32Array }))
    inPlace.forEach((x, i) => x.grad.set(grads[i]!))
    const norm = adamwStep(inPlace, { weightDecay, maxGradNorm }, lr, t)
    // The gradients are only read.
    inPlace.forEach((x, i) => expect(x.grad).toEqual(grads[i]))
    norms.push({ inPlace: norm, graph: Number(out[names.gradNorm]!.data[0]), reference: reference(ref, grads, lr, t, { weightDecay, maxGradNorm, gradScale }) })
  }
  await session.release()
  return { inPlace, graph, ref, norms }
}

/**
 * |actual − expected| ≤ tolerance · the tensor's largest |expected|, element by element: a value near 0 is a
 * difference (a moment of gradients of both signs, a weight a step carried across 0), which any float32
 * storage leaves a few 1e-6 of itself off.
 */
function expectClose(actual: Float32Array, expected: ArrayLike<number>, what: string, tolerance = 1e-6): void {
  const scale = Math.max(...Array.from(expected, Math.abs))
  for (let j = 0; j < expected.length; j++) {
    const x = expected[j]!
    const error = Math.abs(actual[j]! - x) / scale
    if (error > tolerance) throw new Error(`${what}[${j}]: ${actual[j]} in place, ${x} expected (error ${error.toExponential(2)})`)
  }
}

async function expectSame(settings: Settings) {
  const { inPlace, graph, ref, norms } = await both(settings)
  specs.forEach((s, i) => {
    expectClose(inPlace[i]!.param, ref[i]!.param, s.name)
    expectClose(inPlace[i]!.m, ref[i]!.m, `m.${s.name}`)
    expectClose(inPlace[i]!.v, ref[i]!.v, `v.${s.name}`)
    // The old graph: its moments to 1e-6; its parameters to 1e-5 (onnx/optimizer.test.ts holds it
    // to 2e-5 of PyTorch's): it computes 1 − β2^t in float32, where β2 = 0.999 rounds to 0.99900001, 1.3e-5 off,
    // so each of its updates is ~6e-6 of itself off PyTorch's, and five steps of lr 0.05 drift 1.3e-6 apart.
    expectClose(inPlace[i]!.param, graph[i]!.param, `${s.name} (graph)`, 1e-5)
    expectClose(inPlace[i]!.m, graph[i]!.m, `m.${s.name} (graph)`)
    expectClose(inPlace[i]!.v, graph[i]!.v, `v.${s.name} (graph)`)
  })
  for (const n of norms) {
    expect(Math.abs(n.inPlace - n.reference) / n.reference).toBeLessThan(1e-6)
    expect(Math.abs(n.inPlace - n.graph) / n.graph).toBeLessThan(1e-6)
  }
  return { inPlace, norms }
}

describe('AdamW in place equals PyTorch AdamW + clip_grad_norm_ (float64 reference) and the all-at-once AdamW graph, to 1e-6', () => {
  it('with weight decay except on a norm, and clipping that triggers every step', async () => {
    const { norms } = await expectSame({ weightDecay: 0.1, maxGradNorm: 0.5, gradScale: 1 })
    for (const { inPlace } of norms) expect(inPlace).toBeGreaterThan(0.5)
  })

  it('without clipping (maxGradNorm 0) and without weight decay', async () => {
    await expectSame({ weightDecay: 0, maxGradNorm: 0, gradScale: 3 })
  })

  it('with a clipping threshold never reached', async () => {
    const { norms } = await expectSame({ weightDecay: 0.01, maxGradNorm: 100, gradScale: 1 })
    for (const { inPlace } of norms) expect(inPlace).toBeLessThan(100)
  })

  it('weight decay and clipping change the result (the comparisons above are not vacuous)', async () => {
    const plain = (await both({ weightDecay: 0, maxGradNorm: 0, gradScale: 1 })).inPlace
    const decayed = (await both({ weightDecay: 0.1, maxGradNorm: 0, gradScale: 1 })).inPlace
    const clipped = (await both({ weightDecay: 0, maxGradNorm: 0.5, gradScale: 1 })).inPlace
    expect(decayed[0]!.param).not.toEqual(plain[0]!.param)
    // The norm is excluded from decay: untouched by it.
    expect(decayed[1]!.param).toEqual(plain[1]!.param)
    expect(clipped[0]!.m).not.toEqual(plain[0]!.m)
  })

  it('a non-finite gradient makes the norm non-finite (what the trainer stops on) and its value NaN, as in PyTorch', () => {
    const x = (n: number): AdamWBuffers => ({ param: new Float32Array(n).fill(1), m: new Float32Array(n), v: new Float32Array(n), grad: new Float32Array(n).fill(0.1), noDecay: false })
    const overflowed = [x(3), x(2)]
    overflowed[1]!.grad[0] = Number.POSITIVE_INFINITY
    expect(adamwStep(overflowed, { weightDecay: 0.01, maxGradNorm: 1 }, 1e-3, 1)).toBe(Number.POSITIVE_INFINITY)
    // The clipping coefficient is 0: ∞ · 0 is NaN; the finite gradients count as 0.
    expect(overflowed[1]!.param[0]).toBeNaN()
    expect(overflowed[0]!.param.every(Number.isFinite)).toBe(true)
    const undefinedGradient = [x(3)]
    undefinedGradient[0]!.grad[1] = Number.NaN
    expect(adamwStep(undefinedGradient, { weightDecay: 0.01, maxGradNorm: 0 }, 1e-3, 1)).toBeNaN()
    expect(undefinedGradient[0]!.param[1]).toBeNaN()
  })
})
