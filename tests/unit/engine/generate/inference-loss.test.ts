/**
 * The per-exit token loss through the inference graphs (what `sorted
 * eval-loss --weights int8|int4` reports) against the training graph's
 * evaluation (what `sorted eval-loss` reports in fp32): two independent
 * graphs of the same model, so in fp32 they must agree to float precision,
 * and int8 weights may move the loss only a little.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import type { TokenizedRecord } from '../../../../src-main/engine/data/tokenize'
import { inferenceLoss, NoScoredTokensError } from '../../../../src-main/engine/generate/inference-loss'
import { DynamicDepthRuntime } from '../../../../src-main/engine/generate/runtime'
import { validationSource } from '../../../../src-main/engine/train/data-source'
import { Trainer, type TrainOptions } from '../../../../src-main/engine/train/trainer'
import { seededRandom } from '../../../fixtures/fixtures'
import { tinyConfig, tinyWeights } from './random-model'

const config = tinyConfig({ layers: 3, vocab: 64, hidden: 64, heads: 4, kvHeads: 2, intermediate: 96 })
const exits = [1, 2, 3]
// Long enough for records whose scored positions span several of inferenceLoss's head chunks (64 rows).
const seqLen = 160

/** Records of random ids of varied length whose first few tokens are prompt (labelled −100, not scored). */
function randomRecords(count: number, seed: number): TokenizedRecord[] {
  const r = seededRandom(seed)
  return Array.from({ length: count }, (_, i) => {
    const n = 8 + Math.floor(r() * (seqLen - 8))
    const inputIds = Array.from({ length: n }, () => 3 + Math.floor(r() * (config.vocabSize - 3)))
    const prompt = 2 + Math.floor(r() * 4)
    const labels = inputIds.map((id, t) => (t < prompt ? -100 : id))
    return { inputIds, labels, source: { file: 'random', index: i } }
  })
}

const records = randomRecords(6, 11)

async function trainingGraphLoss(): Promise<Record<string, number>> {
  const options: TrainOptions = {
    mode: 'soft', exits, batchSize: 2, seqLen, gradAccum: 1, totalSteps: 0, lr: 0, weightDecay: 0, warmupSteps: 0,
    schedule: 'constant', maxGradNorm: 0, seed: 0, evalEvery: 0, checkpointEvery: 0,
  }
  const source = validationSource(records, { batchSize: 2, seqLen })!
  const trainer = new Trainer(config, tinyWeights(config, 5), options, source, source, '', { intraOpThreads: 1 })
  try {
    return (await trainer.evaluate())!.loss
  } finally {
    await trainer.release()
  }
}

async function lossIn(precision: 'fp32' | 'int8' | 'int4'): Promise<Record<string, number>> {
  const runtime = await DynamicDepthRuntime.load(config, tinyWeights(config, 5), { weights: { precision }, intraOpThreads: 1 })
  try {
    return (await inferenceLoss(runtime, records, exits)).loss
  } finally {
    await runtime.release()
  }
}

describe('inferenceLoss', () => {
  let training: Record<string, number>
  let fp32: Record<string, number>
  beforeAll(async () => {
    training = await trainingGraphLoss()
    fp32 = await lossIn('fp32')
  }, 120_000)

  it('in fp32 equals the training graph’s evaluation at every exit', () => {
    expect(Object.keys(fp32)).toEqual(['1', '2', '3'])
    for (const e of exits) {
      // A random model's loss is near log(64) ≈ 4.16; float32 graphs agree to ~1e-5 of it.
      expect(fp32[e]!).toBeGreaterThan(1)
      expect(Math.abs(fp32[e]! - training[e]!)).toBeLessThan(1e-4)
    }
  })

  it('in int8 stays within a small tolerance of fp32, and is not simply fp32', async () => {
    const int8 = await lossIn('int8')
    for (const e of exits) {
      expect(Math.abs(int8[e]! - fp32[e]!)).toBeLessThan(0.02)
    }
    expect(exits.some((e) => int8[e] !== fp32[e])).toBe(true)
  }, 120_000)

  it('scores only labelled tokens, and refuses a dataset with none', async () => {
    const runtime = await DynamicDepthRuntime.load(config, tinyWeights(config, 5), { intraOpThreads: 1 })
    try {
      const promptOnly = records.map((r) => ({ ...r, labels: r.labels.map(() => -100) }))
      await expect(inferenceLoss(runtime, promptOnly, exits)).rejects.toBeInstanceOf(NoScoredTokensError)
      const scored = records.reduce((sum, r) => sum + r.labels.slice(1).filter((l) => l !== -100).length, 0)
      expect((await inferenceLoss(runtime, records, [3])).tokens).toBe(scored)
      await expect(inferenceLoss(runtime, records, [4])).rejects.toThrow('exits must be layer counts in 1..3 (got 4)')
    } finally {
      await runtime.release()
    }
  }, 120_000)
})
