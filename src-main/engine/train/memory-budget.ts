/**
 * Refuses, before anything is allocated, a run whose step cannot fit in the
 * memory there is: `--batch-size 100000` used to be killed by the kernel at
 * 24 GB, minutes in, with no word of why. The need is the memory planner's
 * predicted peak (run-plan.ts); the refusal proposes what would fit: the
 * largest batch at this sequence length, or else a LoRA adapter, or else
 * QLoRA (the same adapter on a 4-bit base).
 */
import { totalmem } from 'node:os'
import type { ModelConfig } from '../model/types'
import { TuneSetupError, type SettingNamer } from './errors'
import { planStep, type StepPlan, type StepShape } from './run-plan'

const gib = 1024 ** 3
export const inGiB = (bytes: number) => `${(bytes / gib).toFixed(bytes < 10 * gib ? 1 : 0)} GiB`

export type BatchShape = StepShape

/** `--recompute`: activation recomputation always, never, or when the step would not fit without it. */
export const RECOMPUTE_SETTINGS = ['auto', 'on', 'off'] as const
export type RecomputeSetting = (typeof RECOMPUTE_SETTINGS)[number]

/**
 * Whether a step recomputes its layers' activations: `auto` turns it on
 * exactly when the step without it would not fit `budgetBytes`, since it
 * costs about a third more arithmetic a step and is only worth that when
 * memory is short.
 */
export function resolveRecompute(config: ModelConfig, batch: BatchShape, setting: RecomputeSetting = 'auto', budgetBytes = totalmem()): boolean {
  if (setting !== 'auto') return setting === 'on'
  return planStep(config, { ...batch, recompute: false }).memory.peakBytes > budgetBytes
}

/** The adapter proposed to a full fine-tuning run that does not fit: PEFT's usual recipe. */
export const proposedAdapter = { kind: 'lora' as const, rank: 16, alpha: 32, targets: ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] as ('q' | 'k' | 'v' | 'o' | 'gate' | 'up' | 'down')[], trainNorm: false }

export interface MemoryFit {
  plan: StepPlan
  fits: boolean
  /** When it does not fit: the largest batch size that does at this sequence length (0: none). */
  largestBatch?: number
  /** When the step does not recompute its activations: whether it would fit if it did. */
  recomputeFits?: boolean
  /** When no batch fits and the run trains every weight: whether a LoRA r16 adapter at batch 1 would. */
  adapterFits?: boolean
  /** When no batch fits and neither would LoRA on the fp32 base: whether QLoRA (the run's adapter, or LoRA r16, on a 4-bit base) at batch 1 would. */
  qloraFits?: boolean
}

/** The predicted peak of `batch`, and what would fit `budgetBytes` when it does not. */
export function fitMemory(config: ModelConfig, batch: BatchShape, budgetBytes: number): MemoryFit {
  const plan = planStep(config, batch)
  if (plan.memory.peakBytes <= budgetBytes) return { plan, fits: true }
  const fitsAt = (batchSize: number) => planStep(config, { ...batch, batchSize }).memory.peakBytes <= budgetBytes
  // The peak grows with the batch, so the largest batch that fits is found by bisection.
  let low = 0
  let high = batch.batchSize
  while (high - low > 1) {
    const mid = Math.floor((low + high) / 2)
    if (fitsAt(mid)) low = mid
    else high = mid
  }
  if (low === 0 && fitsAt(1)) low = 1
  const fit: MemoryFit = { plan, fits: false, largestBatch: low }
  if (low === 0 && !batch.recompute) fit.recomputeFits = planStep(config, { ...batch, recompute: true }).memory.peakBytes <= budgetBytes
  if (low === 0 && !fit.recomputeFits && !batch.adapter) fit.adapterFits = planStep(config, { ...batch, batchSize: 1, adapter: proposedAdapter }).memory.peakBytes <= budgetBytes
  if (low === 0 && !fit.recomputeFits && !fit.adapterFits && !batch.adapter?.quantizedBase) {
    const adapter = { ...(batch.adapter ?? proposedAdapter), kind: 'lora' as const, quantizedBase: { bits: 4 as const, blockSize: 32 as const } }
    fit.qloraFits = planStep(config, { ...batch, batchSize: 1, adapter }).memory.peakBytes <= budgetBytes
  }
  return fit
}

/** The one-line proposal for a plan that does not fit. */
export function proposal(fit: MemoryFit, batch: BatchShape, name: SettingNamer): string {
  if (fit.largestBatch) return `${name('batchSize')} ${fit.largestBatch} fits (${name('gradAccum')} keeps the effective batch).`
  if (fit.recomputeFits) return `${name('recompute')} on fits (each layer's activations recomputed in the backward: about a third more time a step).`
  if (fit.adapterFits) return `No batch fits with every weight trained; a LoRA adapter (${name('adapter')} lora, rank 16) at ${name('batchSize')} 1 fits.`
  if (fit.qloraFits) {
    const now = batch.adapter ? 'with the fp32 base' : 'with every weight trained, nor with LoRA'
    return `No batch fits ${now}; QLoRA (${name('adapter')} qlora: the same adapter on the base held 4-bit) at ${name('batchSize')} 1 fits.`
  }
  return `Not even ${name('batchSize')} 1 fits; lower ${name('seqLen')} (now ${batch.seqLen}) or use a smaller model.`
}

export function checkMemory(config: ModelConfig, batch: BatchShape, name: SettingNamer, budgetBytes = totalmem()): void {
  const fit = fitMemory(config, batch, budgetBytes)
  if (fit.fits) return
  const b = fit.plan.memory.breakdown
  throw new TuneSetupError(
    `${name('batchSize')} ${batch.batchSize} with ${name('seqLen')} ${batch.seqLen} needs about ${inGiB(fit.plan.memory.peakBytes)} ` +
      `(weights ${inGiB(b.weightBytes)}, gradients and optimizer ${inGiB(b.trainingStateBytes)}, activations kept for the backward ${inGiB(b.activationBytes + b.arenaBytes)}), ` +
      `more than this machine's ${inGiB(budgetBytes)} of memory. ${proposal(fit, batch, name)}`,
    ['batchSize', 'seqLen'],
  )
}

/** The planner's verdict on a step, as the app's runs.estimate returns it. */
export interface RunMemory {
  peakBytes: number
  /** The budget the peak is held to: this machine's physical memory (a GPU's own memory is not read). */
  availableBytes: number
  /** Whether the step recomputes its layers' activations (resolved from the request's setting). */
  recompute: boolean
  fits: boolean
  /** When it does not fit: what would, naming the settings as `name` does. */
  proposal?: string | undefined
  trainableParameters: number
  breakdown: { weightBytes: number; trainingStateBytes: number; activationBytes: number; arenaBytes: number; runtimeBytes: number }
}

export function runMemory(config: ModelConfig, batch: BatchShape, name: SettingNamer, budgetBytes = totalmem()): RunMemory {
  const fit = fitMemory(config, batch, budgetBytes)
  return {
    peakBytes: fit.plan.memory.peakBytes,
    availableBytes: budgetBytes,
    recompute: batch.recompute ?? false,
    fits: fit.fits,
    ...(fit.fits ? {} : { proposal: proposal(fit, batch, name) }),
    trainableParameters: fit.plan.trainableParameters,
    breakdown: fit.plan.memory.breakdown,
  }
}
