/**
 * `sorted tune --dry-run`: what a tune request would need, from the model
 * folder's config alone (no weights loaded, no data read, --out untouched).
 * The same checks as the run itself name the flag at fault.
 */
import { totalmem } from 'node:os'
import { inspectModelFolder } from '../model/import'
import { resolveAdapter } from './adapter-settings'
import type { SettingNamer } from './errors'
import { requestedExits } from './exits'
import { fitMemory, proposal, resolveRecompute } from './memory-budget'
import type { TuneRequest } from './tune-job'

export interface TunePlan {
  predicted_peak_mb: number
  predicted_step_s: number
  trainable_params: number
  parameters: number
  /** Where the peak goes, MB. */
  breakdown_mb: { weights: number; training_state: number; activations: number; arena: number; runtime: number }
  available_mb: number
  /** Whether the step recomputes its layers' activations (`--recompute`, auto resolved). */
  recompute: boolean
  fits: boolean
  /** When it does not fit: what would. */
  proposal?: string
  largest_batch?: number
}

/** MiB (as the train bench's peak_rss_mb, so a prediction and a measurement compare directly), to 0.1: a small model's plan is a few MiB. */
const mb = (bytes: number) => Math.round((bytes / 1024 ** 2) * 10) / 10

export function planTune(request: Omit<TuneRequest, 'outDir' | 'provider'>, name: SettingNamer, budgetBytes = totalmem()): TunePlan {
  const { config } = inspectModelFolder(request.modelPath)
  const exits = requestedExits(config, request, name)
  const step = { mode: request.mode, exits, batchSize: request.batchSize, seqLen: request.seqLen, adapter: resolveAdapter(request, name) }
  const batch = { ...step, recompute: resolveRecompute(config, step, request.recompute, budgetBytes) }
  const fit = fitMemory(config, batch, budgetBytes)
  const b = fit.plan.memory.breakdown
  return {
    predicted_peak_mb: mb(fit.plan.memory.peakBytes),
    predicted_step_s: Number((fit.plan.stepSeconds * request.gradAccum).toPrecision(3)),
    trainable_params: fit.plan.trainableParameters,
    parameters: fit.plan.parameters,
    breakdown_mb: { weights: mb(b.weightBytes), training_state: mb(b.trainingStateBytes), activations: mb(b.activationBytes), arena: mb(b.arenaBytes), runtime: mb(b.runtimeBytes) },
    available_mb: mb(budgetBytes),
    recompute: batch.recompute,
    fits: fit.fits,
    ...(fit.fits ? {} : { proposal: proposal(fit, batch, name), largest_batch: fit.largestBatch ?? 0 }),
  }
}
