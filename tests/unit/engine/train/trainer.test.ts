import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { readLatestCheckpoint } from '../../../../src-main/engine/train/checkpoint'
import { DivergedError } from '../../../../src-main/engine/train/errors'
import { parseExits } from '../../../../src-main/engine/train/exits'
import { learningRate } from '../../../../src-main/engine/train/schedule'
import { Trainer, type BatchSource, type TrainOptions } from '../../../../src-main/engine/train/trainer'
import { recordSource, tinyRecords } from './record-source'
import { tinyConfig, tinyWeights } from '../generate/random-model'

const root = mkdtempSync(join(tmpdir(), 'trainer-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))
let runs = 0
const freshDir = () => join(root, `run-${runs++}`)

const config = tinyConfig({ layers: 3, vocab: 16, hidden: 8, heads: 2, kvHeads: 1, intermediate: 12 })
const T = 6
/** 8 records: a repeating pattern per record, so there is something to learn; the first token is a prompt. */
const records = tinyRecords(T)

const source = (batchSize: number) => recordSource(records, batchSize)

const base: TrainOptions = {
  mode: 'soft',
  exits: parseExits('all', 3),
  batchSize: 4,
  seqLen: T,
  gradAccum: 1,
  totalSteps: 6,
  lr: 3e-2,
  weightDecay: 0.01,
  warmupSteps: 1,
  schedule: 'cosine',
  maxGradNorm: 1,
  seed: 7,
  evalEvery: 0,
  checkpointEvery: 0,
}

async function train(options: Partial<TrainOptions> = {}, batchSize = options.batchSize ?? 4, dir = freshDir()) {
  const trainer = new Trainer(config, tinyWeights(config, 3), { ...base, ...options, batchSize }, source(batchSize), source(batchSize), dir, { intraOpThreads: 1 })
  const result = await trainer.run()
  await trainer.release()
  return result
}

describe('SoFT trainer', () => {
  it('lowers the loss of every exit on data it sees repeatedly', async () => {
    const { state } = await train({ totalSteps: 12 })
    const first = state.history[0]!.loss
    const last = state.history.at(-1)!.loss
    for (const exit of ['1', '2', '3']) expect(last[exit]!).toBeLessThan(first[exit]! * 0.8)
    expect(Object.keys(state.validation.at(-1)!.loss)).toEqual(['1', '2', '3'])
  })

  it('is deterministic: the same seed and data give the same losses', async () => {
    const a = await train()
    const b = await train()
    expect(b.state.history.map((r) => r.loss)).toEqual(a.state.history.map((r) => r.loss))
  })

  it('accumulating two micro-batches of 2 equals one batch of 4', async () => {
    const whole = await train({ totalSteps: 3 }, 4)
    const accumulated = await train({ totalSteps: 3, gradAccum: 2 }, 2)
    whole.state.history.forEach((record, i) => {
      for (const exit of ['1', '2', '3']) expect(accumulated.state.history[i]!.loss[exit]).toBeCloseTo(record.loss[exit]!, 5)
    })
    const a = whole.weights.layers[1]!.up
    const b = accumulated.weights.layers[1]!.up
    a.forEach((x, i) => expect(b[i]).toBeCloseTo(x, 5))
  })

  it('resumes from a checkpoint to the same losses and weights as an uninterrupted run', async () => {
    const straight = await train({ totalSteps: 5 })
    const dir = freshDir()
    const controller = new AbortController()
    const first = new Trainer(config, tinyWeights(config, 3), { ...base, totalSteps: 5 }, source(4), source(4), dir, {
      intraOpThreads: 1,
      onStep: ({ step }) => step === 2 && controller.abort(),
    })
    const stopped = await first.run(controller.signal)
    await first.release()
    expect(stopped).toMatchObject({ finished: false, step: 2 })
    const restored: number[] = []
    const second = new Trainer(config, tinyWeights(config, 3), { ...base, totalSteps: 5 }, source(4), source(4), dir, {
      intraOpThreads: 1,
      onRestored: (state) => restored.push(...state.history.map((r) => r.step)),
    })
    expect(second.resume()).toBe(2)
    // The steps the checkpoint holds are handed over again, for a store that lost the last reports.
    expect(restored).toEqual([1, 2])
    const resumed = await second.run()
    await second.release()
    expect(resumed.state.history.map((r) => r.step)).toEqual([1, 2, 3, 4, 5])
    expect(resumed.state.history.map((r) => r.loss)).toEqual(straight.state.history.map((r) => r.loss))
    expect(Array.from(resumed.weights.norm)).toEqual(Array.from(straight.weights.norm))
  })

  it('stops at the first non-finite loss, naming the step and the exit, before reporting or checkpointing it', async () => {
    const steps: number[] = []
    // Warmup makes step 1 run at lr 0; step 2's update overflows, so step 3's loss is NaN.
    const trainer = new Trainer(config, tinyWeights(config, 3), { ...base, lr: 1e300, totalSteps: 6 }, source(4), source(4), freshDir(), {
      intraOpThreads: 1,
      onStep: ({ step }) => steps.push(step),
    })
    const error = await trainer.run().catch((e: unknown) => e)
    await trainer.release()
    expect(error).toBeInstanceOf(DivergedError)
    expect((error as Error).message).toMatch(/^training diverged at step 3: the loss of exit 1 is NaN \(gradient norm NaN\) \(learning rate 1e\+300\); no checkpoint had been written yet\./)
    expect(steps).toEqual([1, 2])
  })

  it('never checkpoints overflowed parameters: the last good checkpoint stays the newest', async () => {
    const dir = freshDir()
    const trainer = new Trainer(config, tinyWeights(config, 3), { ...base, lr: 1e300, totalSteps: 6, checkpointEvery: 1 }, source(4), source(4), dir, { intraOpThreads: 1 })
    const error = await trainer.run().catch((e: unknown) => e)
    await trainer.release()
    const kept = readLatestCheckpoint(dir)!
    expect(kept.step).toBe(1)
    expect((error as Error).message).toMatch(/^training diverged at step 2: the parameter [\w.]+ is no longer a finite number/)
    expect((error as Error).message).toContain(`the last good checkpoint, step 1, is kept in ${kept.path}`)
    for (const { data } of kept.params.values()) expect(data.every(Number.isFinite)).toBe(true)
  })

  it('sft trains only the full model; sortednet the full model and one sampled exit per step', async () => {
    const sft = await train({ mode: 'sft', totalSteps: 2 })
    expect(Object.keys(sft.state.history[0]!.loss)).toEqual(['3'])
    const sortednet = await train({ mode: 'sortednet', totalSteps: 4 })
    for (const record of sortednet.state.history) {
      const exits = Object.keys(record.loss)
      expect(exits).toHaveLength(2)
      expect(exits).toContain('3')
    }
  })
})

describe('SoFT against SFT (the paper\'s shape)', () => {
  /** Counting sequences (next = current + 1 mod 16) starting at the given tokens: a rule that generalises. */
  const counting = (starts: number[]): BatchSource => ({
    batchesPerEpoch: starts.length / 4,
    batch: (_epoch, index) => {
      const rows = starts.slice(index * 4, index * 4 + 4).map((s) => Array.from({ length: T }, (_, t) => (s + t) % 16))
      return {
        inputIds: BigInt64Array.from(rows.flat().map(BigInt)),
        labels: BigInt64Array.from(rows.flatMap((row) => row.map((id, t) => (t === 0 ? -100 : id))).map(BigInt)),
      }
    },
  })

  it('keeps a shallow exit close to the full model on held-out data, where SFT leaves it far behind', async () => {
    const train = counting([0, 2, 4, 6, 8, 10, 12, 14])
    const heldOut = counting([1, 3, 5, 7, 9, 11, 13, 15])
    const evaluateAfter = async (mode: 'soft' | 'sft') => {
      const trainer = new Trainer(config, tinyWeights(config, 3), { ...base, mode, totalSteps: 30, lr: 2e-2 }, train, undefined, freshDir(), { intraOpThreads: 1 })
      await trainer.run()
      // Evaluate every exit, whatever the mode trained.
      const probe = new Trainer(config, trainer.weights(), { ...base, mode: 'soft' }, train, heldOut, freshDir(), { intraOpThreads: 1 })
      const result = (await probe.evaluate())!
      await Promise.all([trainer.release(), probe.release()])
      return result.loss
    }
    const soft = await evaluateAfter('soft')
    const sft = await evaluateAfter('sft')
    // SFT's first exit lags its full model badly (its head never saw layer-1 states); SoFT's barely lags.
    const lag = (loss: Record<string, number>) => loss['1']! - loss['3']!
    expect(lag(sft)).toBeGreaterThan(0.1)
    expect(lag(soft)).toBeLessThan(lag(sft) / 4)
    expect(soft['1']!).toBeLessThan(sft['1']!)
    // …at no real cost to the full model.
    expect(soft['3']!).toBeLessThan(sft['3']! * 1.1)
  })
})

describe('learning-rate schedule (transformers rules)', () => {
  it('warms up linearly from 0, then follows a cosine to 0', () => {
    expect(learningRate(0, 1, 2, 10, 'cosine')).toBe(0)
    expect(learningRate(1, 1, 2, 10, 'cosine')).toBe(0.5)
    expect(learningRate(2, 1, 2, 10, 'cosine')).toBe(1)
    expect(learningRate(6, 1, 2, 10, 'cosine')).toBeCloseTo(0.5, 12)
    expect(learningRate(10, 1, 2, 10, 'cosine')).toBeCloseTo(0, 12)
    expect(learningRate(7, 1, 2, 10, 'constant')).toBe(1)
  })
})
