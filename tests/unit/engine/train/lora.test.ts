import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { add } from '../../../../src-main/engine/onnx/ops/basic'
import { matmul } from '../../../../src-main/engine/onnx/ops/matmul'
import { mulberry32 } from '../../../../src-main/engine/data/random'
import { loraDelta } from '../../../../src-main/engine/model/layers'
import { initialAdapter, loraScale, loraSlots, mergeAdapter, truncateAdapter, type AdapterSpec } from '../../../../src-main/engine/model/lora'
import { weightOf, weightSlots } from '../../../../src-main/engine/model/weight-map'
import type { ModelWeights } from '../../../../src-main/engine/model/types'
import { toModelProto } from '../../../../src-main/engine/onnx/serialize'
import { loadSession, tensor, type ort } from '../../../../src-main/engine/onnx/session'
import { parseExits } from '../../../../src-main/engine/train/exits'
import { graphNames } from '../../../../src-main/engine/train/graph-names'
import { buildSortedEvaluationGraph, buildSortedTrainGraph, type TrainedAdapter } from '../../../../src-main/engine/train/sorted-graph'
import { Trainer, type TrainOptions } from '../../../../src-main/engine/train/trainer'
import { recordSource, tinyRecords } from './record-source'
import { gradcheck } from '../onnx/gradcheck'
import { tinyConfig, tinyWeights } from '../generate/random-model'

const config = tinyConfig({ layers: 3, vocab: 16, hidden: 8, heads: 2, kvHeads: 1, intermediate: 12, architecture: 'qwen2' })
const T = 6
const B = 2
const records = tinyRecords(T)
const spec: TrainedAdapter = { kind: 'lora', rank: 4, alpha: 8, targets: ['q', 'k', 'v', 'o', 'gate', 'up', 'down'], trainNorm: false }

const source = (batchSize: number) => recordSource(records, batchSize)

/** An adapter whose B is not zero (a fresh one changes nothing, so it would prove nothing). */
function trainedLookingAdapter(adapter: AdapterSpec, seed: number): Map<string, Float32Array> {
  const tensors = initialAdapter(config, adapter, seed)
  const uniform = mulberry32(seed + 1)
  for (const slot of loraSlots(config, adapter)) {
    if (slot.part === 'B') tensors.set(slot.name, Float32Array.from({ length: slot.shape[0] * slot.shape[1] }, () => uniform() - 0.5))
  }
  return tensors
}

/** Per-exit validation losses of the evaluation graph, with or without an adapter at a rank. */
async function exitLosses(weights: ModelWeights, adapter?: { spec: TrainedAdapter; tensors: Map<string, Float32Array>; rank: number }): Promise<number[]> {
  const exits = parseExits('all', config.numLayers)
  const graph = buildSortedEvaluationGraph({ config, exits, batchSize: B, seqLen: T, adapter: adapter?.spec })
  const { session } = await loadSession(toModelProto(graph), { intraOpThreads: 1 })
  const batch = source(B).batch(0, 0)
  const feeds: Record<string, ort.Tensor> = {
    [graphNames.inputIds]: tensor('int64', batch.inputIds, [B, T]),
    [graphNames.labels]: tensor('int64', batch.labels, [B, T]),
  }
  for (const slot of weightSlots(config)) feeds[slot.name] = tensor('float32', weightOf(weights, slot)!, slot.shape)
  if (adapter) {
    for (const slot of loraSlots(config, adapter.spec)) feeds[slot.name] = tensor('float32', adapter.tensors.get(slot.name)!, slot.shape)
    const scale = new Float32Array(adapter.spec.rank)
    scale.fill(loraScale(adapter.spec.alpha, adapter.rank), 0, adapter.rank)
    feeds[graphNames.loraScale] = tensor('float32', scale, [adapter.spec.rank])
  }
  const out = await session.run(feeds)
  await session.release()
  return exits.map((e) => Number(out[graphNames.exitLoss(e)]!.data[0]))
}

function expectRelativelyClose(actual: number[], expected: number[], tolerance: number) {
  actual.forEach((a, i) => expect(Math.abs(a - expected[i]!) / Math.abs(expected[i]!)).toBeLessThanOrEqual(tolerance))
}

describe('LoRA linear layer gradients (float64, central differences)', () => {
  it('x·W + ((x·Aᵀ) ⊙ scale)·Bᵀ sends the right gradient to x, W, A and B', async () => {
    const result = await gradcheck(
      [{ shape: [2, 3, 4] }, { shape: [4, 5] }, { shape: [2, 4] }, { shape: [5, 2] }, { shape: [2], differentiable: false }],
      (x, w, a, b, scale) => add(matmul(x!, w!), loraDelta(x!, { a: a!, b: b!, scale: scale! })),
    )
    expect(result.checked).toBe(24 + 20 + 8 + 10)
  })

  it('a zero scale on a rank (a DyLoRA step of lower rank) gives that row of A and column of B no gradient', async () => {
    const result = await gradcheck(
      [{ shape: [3, 4] }, { shape: [2, 4] }, { shape: [5, 2] }, { shape: [2], data: Float64Array.of(0.5, 0), differentiable: false }],
      (x, a, b, scale) => loraDelta(x!, { a: a!, b: b!, scale: scale! }),
    )
    const [, dA, dB] = result.analytic
    expect(Array.from(dA!.slice(4))).toEqual([0, 0, 0, 0])
    for (let o = 0; o < 5; o++) expect(dB![o * 2 + 1]).toBe(0)
  })
})

describe('LoRA on the SoFT graphs', () => {
  const weights = tinyWeights(config, 5)

  it('the unmerged adapter gives the same per-exit losses as its merge into the base weights', async () => {
    const tensors = trainedLookingAdapter(spec, 11)
    const unmerged = await exitLosses(weights, { spec, tensors, rank: spec.rank })
    const merged = await exitLosses(mergeAdapter(config, weights, spec, tensors))
    const plain = await exitLosses(weights)
    expectRelativelyClose(unmerged, merged, 1e-5)
    // The adapter does change the model: the comparison is not between two copies of the base.
    expect(Math.abs(unmerged[2]! - plain[2]!)).toBeGreaterThan(1e-4)
  })

  it('a DyLoRA adapter run at rank b equals the rank-b LoRA adapter holding its first b rows and columns', async () => {
    const dylora: TrainedAdapter = { ...spec, kind: 'dylora' }
    const tensors = trainedLookingAdapter(dylora, 12)
    const truncated = truncateAdapter(config, dylora, tensors, 2)
    expect(truncated.spec.rank).toBe(2)
    const atRank2 = await exitLosses(weights, { spec: dylora, tensors, rank: 2 })
    const asLora = await exitLosses(weights, { spec: { ...truncated.spec, trainNorm: false }, tensors: truncated.tensors, rank: 2 })
    const merged = await exitLosses(mergeAdapter(config, weights, truncated.spec, truncated.tensors))
    expectRelativelyClose(atRank2, asLora, 1e-6)
    expectRelativelyClose(atRank2, merged, 1e-5)
  })

  it('the gradients graph differentiates only the adapter: base weights are inputs with no gradient', () => {
    const { graph } = buildSortedTrainGraph({ config, exits: [1, 3], batchSize: B, seqLen: T, mode: 'gradients', adapter: spec })
    const outputs = graph.outputs.map((t) => t.name).filter((n) => n.startsWith('grad.'))
    expect(outputs).toEqual(loraSlots(config, spec).map((s) => `grad.${s.name}`))
    const inputs = graph.inputs.map((t) => t.name)
    for (const slot of weightSlots(config)) expect(inputs).toContain(slot.name)
    expect(inputs).toContain(graphNames.loraScale)
  })

  it('--train-norm adds the shared final norm, and only it, to what trains', () => {
    const { graph } = buildSortedTrainGraph({ config, exits: [1, 3], batchSize: B, seqLen: T, mode: 'gradients', adapter: { ...spec, targets: ['q', 'v'], trainNorm: true } })
    const outputs = graph.outputs.map((t) => t.name).filter((n) => n.startsWith('grad.'))
    expect(outputs).toHaveLength(3 * 2 * 2 + 1)
    expect(outputs.at(-1)).toBe('grad.model.norm.weight')
  })
})

const root = mkdtempSync(join(tmpdir(), 'lora-trainer-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))
let runs = 0
const freshDir = () => join(root, `run-${runs++}`)

const options: TrainOptions = {
  mode: 'soft',
  exits: parseExits('all', 3),
  batchSize: 4,
  seqLen: T,
  gradAccum: 1,
  totalSteps: 8,
  lr: 3e-2,
  weightDecay: 0.01,
  warmupSteps: 1,
  schedule: 'cosine',
  maxGradNorm: 1,
  seed: 7,
  evalEvery: 0,
  checkpointEvery: 0,
  adapter: spec,
}

async function train(overrides: Partial<TrainOptions> = {}, dir = freshDir()) {
  const trainer = new Trainer(config, tinyWeights(config, 3), { ...options, ...overrides }, source(4), source(4), dir, { intraOpThreads: 1 })
  const result = await trainer.run()
  await trainer.release()
  return result
}

describe('LoRA trainer', () => {
  it('lowers every exit’s loss while the base weights stay exactly as loaded', async () => {
    const before = tinyWeights(config, 3)
    const { state, weights, adapter } = await train()
    const first = state.history[0]!.loss
    const last = state.history.at(-1)!.loss
    for (const exit of ['1', '2', '3']) expect(last[exit]!).toBeLessThan(first[exit]!)
    for (const slot of weightSlots(config)) expect(weightOf(weights, slot)).toEqual(weightOf(before, slot))
    expect([...adapter!.keys()]).toEqual(loraSlots(config, spec).map((s) => s.name))
  })

  it('trains an adapter in every mode: sft on the full model, sortednet on it and one sampled exit per step', async () => {
    const sft = await train({ mode: 'sft', totalSteps: 2 })
    expect(Object.keys(sft.state.history[0]!.loss)).toEqual(['3'])
    const sortednet = await train({ mode: 'sortednet', totalSteps: 3 })
    for (const record of sortednet.state.history) expect(Object.keys(record.loss)).toHaveLength(2)
    // B starts at zero: a B that moved is an adapter that trained.
    for (const { adapter } of [sft, sortednet]) expect([...adapter!].some(([name, t]) => name.includes('lora_B') && t.some((x) => x !== 0))).toBe(true)
  })

  it('keeps optimizer state only for the adapter', async () => {
    const dir = freshDir()
    await train({ totalSteps: 1 }, dir)
    const { readLatestCheckpoint } = await import('../../../../src-main/engine/train/checkpoint')
    const checkpoint = readLatestCheckpoint(dir)!
    expect([...checkpoint.m.keys()]).toEqual(loraSlots(config, spec).map((s) => s.name))
    expect([...checkpoint.params.keys()]).toEqual(loraSlots(config, spec).map((s) => s.name))
  })

  for (const kind of ['lora', 'dylora'] as const) {
    it(`${kind}: resumes from a checkpoint to the same losses and adapter as an uninterrupted run, bit for bit`, async () => {
      const adapter = { ...spec, kind }
      const straight = await train({ totalSteps: 5, adapter })
      const dir = freshDir()
      const controller = new AbortController()
      const first = new Trainer(config, tinyWeights(config, 3), { ...options, totalSteps: 5, adapter }, source(4), source(4), dir, {
        intraOpThreads: 1,
        onStep: ({ step }) => step === 2 && controller.abort(),
      })
      expect(await first.run(controller.signal)).toMatchObject({ finished: false, step: 2 })
      await first.release()
      const second = new Trainer(config, tinyWeights(config, 3), { ...options, totalSteps: 5, adapter }, source(4), source(4), dir, { intraOpThreads: 1 })
      expect(second.resume()).toBe(2)
      const resumed = await second.run()
      await second.release()
      expect(resumed.state.history.map((r) => r.loss)).toEqual(straight.state.history.map((r) => r.loss))
      for (const [name, data] of straight.adapter!) expect(resumed.adapter!.get(name)).toEqual(data)
    })
  }

  it('DyLoRA draws ranks in [1, R] from (seed, step) and reports validation per exit and rank', async () => {
    const adapter: TrainedAdapter = { ...spec, kind: 'dylora' }
    const trainer = new Trainer(config, tinyWeights(config, 3), { ...options, adapter }, source(4), source(4), freshDir(), { intraOpThreads: 1 })
    const ranks = Array.from({ length: 40 }, (_, s) => trainer.rankForStep(s)!)
    expect(new Set(ranks)).toEqual(new Set([1, 2, 3, 4]))
    expect(ranks).toEqual(Array.from({ length: 40 }, (_, s) => trainer.rankForStep(s)))
    const { state } = await trainer.run()
    await trainer.release()
    const table = state.validation.at(-1)!.lossByRank!
    expect(Object.keys(table)).toEqual(['1', '2', '4'])
    for (const rank of ['1', '2', '4']) expect(Object.keys(table[rank]!)).toEqual(['1', '2', '3'])
    expect(table['4']).toEqual(state.validation.at(-1)!.loss)
  })
})
