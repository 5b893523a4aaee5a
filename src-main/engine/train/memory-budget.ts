/**
 * Refuses, before anything is allocated, a run whose batch cannot fit in
 * this machine's memory: `--batch-size 100000` used to be killed by the
 * kernel at 24 GB, minutes in, with no word of why. The need is
 * estimate.ts's (parameters, gradients, AdamW moments, activations,
 * attention, logits); the budget is the machine's physical memory. The
 * estimate is rough, so the budget is generous: a run refused here could
 * not have run, rather than every run that might be tight.
 */
import { totalmem } from 'node:os'
import type { ModelConfig } from '../model/types'
import { TuneSetupError, type SettingNamer } from './errors'
import { estimateRun, modelShape } from './estimate'
import { trainedTensors, type TrainedAdapter } from './sorted-graph'
import type { TrainMode } from './trainer'

const gib = 1024 ** 3
const inGiB = (bytes: number) => `${(bytes / gib).toFixed(bytes < 10 * gib ? 1 : 0)} GiB`

export interface BatchShape {
  mode: TrainMode
  exits: number[]
  batchSize: number
  seqLen: number
  /** An adapter run's adapter: only it has gradients and optimizer state. */
  adapter?: TrainedAdapter | undefined
}

export function checkMemory(config: ModelConfig, batch: BatchShape, name: SettingNamer, budgetBytes = totalmem()): void {
  const trainedParameters = batch.adapter ? trainedTensors(config, batch.adapter).reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0) : undefined
  const estimate = estimateRun(modelShape(config), { ...batch, gradAccum: 1, steps: 0, validationBatches: 0, validations: 0, ...(trainedParameters !== undefined ? { trainedParameters } : {}) })
  if (estimate.memoryBytes <= budgetBytes) return
  const b = estimate.breakdown
  const model = b.parameterBytes + b.gradientBytes + b.optimizerBytes
  throw new TuneSetupError(
    `${name('batchSize')} ${batch.batchSize} with ${name('seqLen')} ${batch.seqLen} needs about ${inGiB(estimate.memoryBytes)} ` +
      `(model and optimizer ${inGiB(model)}, activations ${inGiB(b.activationBytes)}, attention ${inGiB(b.attentionBytes)}, logits ${inGiB(b.logitBytes)}), ` +
      `more than this machine's ${inGiB(budgetBytes)} of memory. Lower ${name('batchSize')} or ${name('seqLen')}; ${name('gradAccum')} keeps the effective batch.`,
    ['batchSize', 'seqLen'],
  )
}
