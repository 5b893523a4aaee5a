/**
 * runs.estimate: the time and memory of a run before it starts. The dataset
 * is counted by the same worker preview the wizard shows (kept, so asking
 * again is free), split and batched by the job's own rules; the time comes
 * from engine/train/estimate.ts and the memory from the planner
 * (engine/train/memory-budget.ts), the figures `sorted tune --dry-run` prints.
 */
import type { z } from 'zod'
import type { RunEstimate, TuneRequest } from '../api/contract'
import { ApiError } from '../api/errors'
import { estimateRun, modelShape } from '../engine/train/estimate'
import { resolveAdapter } from '../engine/train/adapter-settings'
import { TuneSetupError } from '../engine/train/errors'
import { parseExits } from '../engine/train/exits'
import { resolveRecompute, runMemory } from '../engine/train/memory-budget'
import { plannedSteps, plannedValidations, splitSizes } from '../engine/train/tune-data'
import type { DatasetService } from './datasets'
import { modelConfigOf } from './model-inspect'

function invalid(field: string, message: string): ApiError {
  return new ApiError('invalid_params', `${field}: ${message}`, [{ path: field, message }])
}

export async function estimateTune(request: z.output<typeof TuneRequest>, datasets: DatasetService): Promise<RunEstimate> {
  const config = modelConfigOf(request.modelPath)
  let exits: number[]
  try {
    exits = parseExits(request.exits, config.numLayers)
  } catch (error) {
    throw invalid('exits', (error as Error).message)
  }
  let adapter
  try {
    adapter = resolveAdapter(request, (setting) => setting)
  } catch (error) {
    if (!(error instanceof TuneSetupError)) throw error
    throw invalid(error.settings[0] ?? 'adapter', error.message)
  }
  const preview = await datasets.preview({ modelPath: request.modelPath, dataPath: request.dataPath, seqLen: request.seqLen, limit: 0 })
  if (!preview.stats) throw invalid('dataPath', preview.fatal ?? 'nothing to train on')
  let split: { train: number; validation: number }
  try {
    split = splitSizes(preview.stats.records, request.valSplit, request.seed)
  } catch (error) {
    throw invalid('valSplit', (error as Error).message)
  }
  const batchesPerEpoch = Math.ceil(split.train / request.batchSize)
  const steps = plannedSteps(batchesPerEpoch, request)
  const validationBatches = Math.ceil(split.validation / request.batchSize)
  const shape = modelShape(config)
  const step = { mode: request.mode, exits, batchSize: request.batchSize, seqLen: request.seqLen, adapter }
  const memory = runMemory(config, { ...step, recompute: resolveRecompute(config, step, request.recompute) }, (setting) => setting)
  const estimate = estimateRun(shape, {
    mode: request.mode,
    exits,
    batchSize: request.batchSize,
    seqLen: request.seqLen,
    gradAccum: request.gradAccum,
    steps,
    validationBatches,
    validations: validationBatches > 0 ? plannedValidations(steps, request.evalEvery) : 0,
    recompute: memory.recompute,
  })
  return { ...estimate, memoryBytes: memory.peakBytes, memory, trainRecords: split.train, validationRecords: split.validation, parameters: shape.parameters }
}
