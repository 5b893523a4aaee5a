/**
 * One fine-tuning job from files to files: read the model and the dataset,
 * split, train (resuming from checkpoints when asked), and export the tuned
 * model with sorted.json. The `sorted tune` command and the training worker
 * both run exactly this.
 */
import { existsSync, readdirSync } from 'node:fs'
import { resolve } from 'node:path'
import type { ExecutionProviderPreference } from '../onnx/providers'
import { formatProblem, splitDataset, type DatasetStats, type ErrorPolicy } from '../data'
import { exportModel } from '../model/export'
import { loadModelFolder } from '../model/import'
import type { ModelConfig } from '../model/types'
import { trainingSource, validationSource } from './data-source'
import { parseExits } from './exits'
import type { ScheduleKind } from './schedule'
import { openTuneData, plannedSteps } from './tune-data'
import { Trainer, type RunState, type TrainerHooks, type TrainMode, type TrainOptions } from './trainer'

export interface TuneRequest {
  modelPath: string
  dataPath: string
  outDir: string
  mode: TrainMode
  /** all | 2,4,6 | every:N:from:M */
  exits: string
  /** Exactly one of epochs and maxSteps; neither means one epoch. */
  epochs?: number
  maxSteps?: number
  batchSize: number
  gradAccum: number
  lr: number
  weightDecay: number
  warmup: number
  schedule: ScheduleKind
  maxGradNorm: number
  seqLen: number
  seed: number
  shuffle: boolean
  valSplit: number
  onError: ErrorPolicy
  checkpointEvery: number
  evalEvery: number
  provider: ExecutionProviderPreference
}

/** A request that cannot run as given (the user's to fix, not a bug). */
export class TuneSetupError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'TuneSetupError'
  }
}

export interface PreparedTune {
  config: ModelConfig
  options: TrainOptions
  datasetFormat: string
  stats: DatasetStats
  trainRecords: number
  validationRecords: number
  resumedFrom: number
}

export interface TuneOutcome {
  finished: boolean
  step: number
  state: RunState
  /** The exported model folder, when finished. */
  out: string | undefined
}

export function checkpointDirOf(outDir: string): string {
  return `${resolve(outDir)}.checkpoints`
}

export async function runTuneJob(
  request: TuneRequest,
  options: { resume: boolean; signal?: AbortSignal; hooks?: TrainerHooks; onPrepared?: (prepared: PreparedTune) => void },
): Promise<TuneOutcome> {
  const out = resolve(request.outDir)
  const checkpointDir = checkpointDirOf(out)
  const hasCheckpoints = existsSync(checkpointDir) && readdirSync(checkpointDir).length > 0
  if (hasCheckpoints && !options.resume) throw new TuneSetupError(`${checkpointDir} holds checkpoints of an earlier run: resume it, or remove it.`)
  if (existsSync(out) && readdirSync(out).length > 0) throw new TuneSetupError(`the output folder ${out} is not empty.`)
  if (request.epochs !== undefined && request.maxSteps !== undefined) throw new TuneSetupError('give epochs or max steps, not both.')

  const model = loadModelFolder(request.modelPath)
  const { dataset } = openTuneData(request.modelPath, request.dataPath, { seqLen: request.seqLen, onError: request.onError, vocabSize: model.config.vocabSize })
  for (const skipped of dataset.skipped) for (const problem of skipped.problems) options.hooks?.log?.(`skipped ${formatProblem(problem)}`)
  let exits: number[]
  try {
    exits = parseExits(request.exits, model.config.numLayers)
  } catch (error) {
    throw new TuneSetupError((error as Error).message)
  }
  const { train, validation } = splitDataset(dataset.records, { valFraction: request.valSplit, seed: request.seed })
  const { batchSize, seqLen, seed } = request
  const trainSource = trainingSource(train, { batchSize, seqLen, seed, shuffle: request.shuffle })
  const totalSteps = plannedSteps(trainSource.batchesPerEpoch, request)
  const trainOptions: TrainOptions = {
    mode: request.mode,
    exits,
    batchSize,
    seqLen,
    gradAccum: request.gradAccum,
    totalSteps,
    lr: request.lr,
    weightDecay: request.weightDecay,
    warmupSteps: request.warmup,
    schedule: request.schedule,
    maxGradNorm: request.maxGradNorm,
    seed,
    evalEvery: request.evalEvery,
    checkpointEvery: request.checkpointEvery,
  }
  const trainer = new Trainer(model.config, model.weights, trainOptions, trainSource, validationSource(validation, { batchSize, seqLen }), checkpointDir, {
    provider: request.provider,
    ...options.hooks,
  })
  const resumedFrom = options.resume ? trainer.resume() : 0
  options.onPrepared?.({
    config: model.config,
    options: trainOptions,
    datasetFormat: dataset.formatName,
    stats: dataset.stats,
    trainRecords: train.length,
    validationRecords: validation.length,
    resumedFrom,
  })
  try {
    const result = await trainer.run(options.signal)
    if (!result.finished) return { finished: false, step: result.step, state: result.state, out: undefined }
    const final = result.state.validation.at(-1)
    const trained = request.mode === 'sft' ? [model.config.numLayers] : exits
    const results = Object.fromEntries(
      trained.map((e): [string, Record<string, number>] => [String(e), final ? { val_loss: final.loss[e]!, perplexity: final.perplexity[e]! } : {}]),
    )
    exportModel(
      {
        config: model.config,
        weights: result.weights,
        sorted: { exits: trained, results, mode: request.mode, seed, base_model: resolve(request.modelPath), train: { ...trainOptions } },
      },
      out,
      { tokenizerFrom: request.modelPath },
    )
    return { finished: true, step: result.step, state: result.state, out }
  } finally {
    await trainer.release()
  }
}
