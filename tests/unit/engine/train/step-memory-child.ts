/**
 * Run by step-memory.test.ts in a process of its own, so that the peak RSS it
 * prints is this run's: full fine-tuning (SFT, batch 1 × 8) of a model whose
 * parameters dwarf its activations (vocabulary 131 072, width 128: an
 * embedding and a head of 64 MB each, above glibc's 32 MB mmap threshold, so
 * memory freed goes back to the system as it does for a real model's).
 *
 *   step-memory-child.ts DIR         three steps and the final checkpoint, in DIR
 *   step-memory-child.ts DIR resume  resumes from DIR's checkpoint, two more steps
 *
 * Prints one JSON line: the trained parameters, the RSS high-water mark once
 * the model is in memory (before the trainer exists), and at the end.
 */
import { weightOf, weightSlots } from '../../../../src-main/engine/model/weight-map'
import { Trainer } from '../../../../src-main/engine/train/trainer'
import { tinyConfig, tinyWeights } from '../generate/random-model'

const [dir, mode] = process.argv.slice(2) as [string, string | undefined]
const config = tinyConfig({ layers: 2, vocab: 131072, hidden: 128, heads: 2, kvHeads: 1, intermediate: 64 })
const T = 8
const ids = BigInt64Array.from({ length: T }, (_, i) => BigInt((i * 7919) % config.vocabSize))
const source = { batchesPerEpoch: 1, batch: () => ({ inputIds: ids, labels: ids }) }
const highWaterMark = () => process.resourceUsage().maxRSS * 1024

const weights = tinyWeights(config, 3)
const parameters = weightSlots(config).reduce((n, slot) => n + weightOf(weights, slot)!.length, 0)
const withModel = highWaterMark()
const options = {
  mode: 'sft' as const, exits: [config.numLayers], batchSize: 1, seqLen: T, gradAccum: 1, totalSteps: mode === 'resume' ? 5 : 3, lr: 1e-3,
  weightDecay: 0.01, warmupSteps: 0, schedule: 'constant' as const, maxGradNorm: 1, seed: 1, evalEvery: 0, checkpointEvery: 0,
}
const trainer = new Trainer(config, weights, options, source, undefined, dir, { intraOpThreads: 1 })
if (mode === 'resume' && trainer.resume() !== 3) throw new Error(`no checkpoint of step 3 in ${dir}`)
await trainer.run()
await trainer.release()
console.log(JSON.stringify({ parameters, withModelBytes: withModel, peakBytes: highWaterMark() }))
