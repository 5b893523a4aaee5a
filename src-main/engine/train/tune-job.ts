/**
 * One fine-tuning job from files to files: read the model and the dataset,
 * split, train (resuming from checkpoints when asked), and export the tuned
 * model with sorted.json. The `sorted tune` command and the training worker
 * both run exactly this.
 */
import { existsSync, readdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { ExecutionProviderPreference } from '../onnx/providers'
import { formatProblem, splitDataset, type DatasetStats } from '../data'
import { exportModel } from '../model/export'
import { writePeftAdapter } from '../model/peft-adapter'
import { resolveAdapter, type AdapterRequest } from './adapter-settings'
import type { JobRequest } from './job'
import { inspectModelFolder, loadModelFolder } from '../model/import'
import type { ModelConfig, SortedMetadata } from '../model/types'
import { hasCheckpoints } from './checkpoint'
import { trainingSource, validationSource } from './data-source'
import { TrainingError, TuneSetupError, type SettingNamer } from './errors'
import { parseExits, requestedExits } from './exits'
import { checkMemory, resolveRecompute, type RecomputeSetting } from './memory-budget'
import { prepareOutputFolders } from './output-folder'
import { acquireRunLock } from './run-lock'
import { changedSettings, describeChanges, readRunRecord, runRecordFile, settingsOf, writeRunRecord, type RunRecord, type SettingChange } from './run-settings'
import { loadQuantizedBase } from './quantized-base'
import { openTuneData, plannedSteps } from './tune-data'
import { evaluatedRanks, Trainer, type RunState, type TrainerHooks, type TrainOptions, type TrainResult } from './trainer'

export { TuneSetupError } from './errors'
export type { SettingNamer } from './errors'

/**
 * A local tuning run: what a job trains (JobRequest, job.ts: model, data,
 * mode, exits and every training setting), where the tuned model goes, the
 * execution provider, and the adapter to train, if any (adapter-settings.ts;
 * absent: every weight trains).
 */
export interface TuneRequest extends JobRequest, AdapterRequest {
  outDir: string
  provider: ExecutionProviderPreference
  /** Activation recomputation (memory-budget.ts resolveRecompute); default auto. */
  recompute?: RecomputeSetting | undefined
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
  /** The exported model folder (or PEFT adapter folder, for an adapter run), when finished. */
  out: string | undefined
}

export function checkpointDirOf(outDir: string): string {
  return `${resolve(outDir)}.checkpoints`
}

export interface TuneJobOptions {
  resume: boolean
  /** Resume even when the settings differ from the checkpoints' (the change is recorded in run.json). */
  force?: boolean
  /** Tells how to force a resume, in the caller's terms (`add --force`); without it, forcing is not offered. */
  forceHint?: string
  /** Tells how to resume, in the caller's terms (`add --resume`). */
  resumeHint?: string
  /** Who runs the job, as a second job on the same folder is told: `sorted tune` or `Sorted Studio app`. */
  who?: string
  /** How messages name a request field (default: its own name, as the app's form and API do). */
  name?: SettingNamer
  signal?: AbortSignal
  hooks?: TrainerHooks
  onPrepared?: (prepared: PreparedTune) => void
}

export async function runTuneJob(request: TuneRequest, options: TuneJobOptions): Promise<TuneOutcome> {
  const name: SettingNamer = options.name ?? ((setting) => setting)
  const log = options.hooks?.log ?? (() => {})
  const out = resolve(request.outDir)
  const checkpointDir = checkpointDirOf(out)
  if (request.epochs !== undefined && request.maxSteps !== undefined) throw new TuneSetupError(`give ${name('epochs')} or ${name('maxSteps')}, not both.`, ['epochs', 'maxSteps'])
  // Folders first: nothing is loaded for a run that could never write its result.
  prepareOutputFolders(out, checkpointDir, name('outDir'))
  // One run per folder, from before anything in it is read until the job ends, however it ends.
  const lock = acquireRunLock(checkpointDir, { who: options.who ?? 'a tune job', label: `${name('outDir')} ${out}`, log })
  try {
    return await runInHeldFolder(request, options, { name, log, out, checkpointDir })
  } finally {
    lock.release()
  }
}

async function runInHeldFolder(
  request: TuneRequest,
  options: TuneJobOptions,
  { name, log, out, checkpointDir }: { name: SettingNamer; log: (message: string) => void; out: string; checkpointDir: string },
): Promise<TuneOutcome> {
  const resuming = options.resume && hasCheckpoints(checkpointDir)
  if (hasCheckpoints(checkpointDir) && !options.resume) {
    throw new TuneSetupError(`${checkpointDir} holds checkpoints of an earlier run: resume it${options.resumeHint ? ` (${options.resumeHint})` : ''}, or remove it.`, ['outDir'])
  }
  if (existsSync(out) && readdirSync(out).length > 0) throw new TuneSetupError(`${name('outDir')} ${out} is not empty; give a new or empty folder for the tuned model.`, ['outDir'])

  const adapter = resolveAdapter(request, name)
  if (adapter?.quantizedBase) refusePrequantizedBase(request.modelPath, name)
  const model = adapter?.quantizedBase ? loadQuantizedBase(request.modelPath, adapter.quantizedBase) : loadModelFolder(request.modelPath)
  const exits = requestedExits(model.config, request, name)
  const step = { mode: request.mode, exits, batchSize: request.batchSize, seqLen: request.seqLen, adapter }
  const recompute = resolveRecompute(model.config, step, request.recompute)
  // Before the data is read or a graph built: a batch that cannot fit is refused with its figures.
  checkMemory(model.config, { ...step, recompute }, name)
  if (recompute && (request.recompute ?? 'auto') === 'auto') log(`activation recomputation is on: without it the step would not fit in memory (${name('recompute')} off turns it off)`)
  const settings = settingsOf(request, exits, adapter)
  const record = resuming ? resumeRecord(checkpointDir, settings, options, name) : { settings, forced: [] }

  const { dataset } = openTuneData(request.modelPath, request.dataPath, { seqLen: request.seqLen, onError: request.onError, vocabSize: model.config.vocabSize })
  for (const warning of dataset.warnings) log(`warning: ${warning}`)
  for (const skipped of dataset.skipped) for (const problem of skipped.problems) log(`skipped ${formatProblem(problem)}`)
  if (request.valSplit > 0 && dataset.records.length < 2) {
    throw new TuneSetupError(
      `${name('valSplit')} ${request.valSplit} needs at least 2 records (one to train on, one to validate with); ${request.dataPath} has ${dataset.records.length}. Give ${name('valSplit')} 0, or more data.`,
      ['valSplit'],
    )
  }
  const { train, validation } = splitDataset(dataset.records, { valFraction: request.valSplit, seed: request.seed })
  const { batchSize, seqLen, seed } = request
  const trainSource = trainingSource(train, { batchSize, seqLen, seed, shuffle: request.shuffle })
  const totalSteps = plannedSteps(trainSource.batchesPerEpoch, request)
  if (request.warmup > 0 && request.warmup >= totalSteps) {
    throw new TuneSetupError(
      `${name('warmup')} ${request.warmup} is not shorter than the run (${totalSteps} step${totalSteps === 1 ? '' : 's'}): the learning rate would never reach ${name('lr')} ${request.lr}. Give ${name('warmup')} below ${totalSteps}.`,
      ['warmup'],
    )
  }
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
    adapter,
    recompute,
  }
  const trainer = new Trainer(model.config, model.weights, trainOptions, trainSource, validationSource(validation, { batchSize, seqLen }), checkpointDir, {
    provider: request.provider,
    ...options.hooks,
  })
  const resumedFrom = resuming ? trainer.resume() : 0
  if (resumedFrom > totalSteps) {
    const by = request.maxSteps !== undefined ? `${name('maxSteps')} ${request.maxSteps}` : `${request.epochs !== undefined ? `${name('epochs')} ${request.epochs}` : 'one epoch'} (${totalSteps} steps)`
    throw new TuneSetupError(`${by} ends before step ${resumedFrom}, where the checkpoints in ${checkpointDir} already are; give at least ${resumedFrom} steps to resume.`, [request.maxSteps !== undefined ? 'maxSteps' : 'epochs'])
  }
  const forcedNow = record.forced.at(-1)
  if (forcedNow && forcedNow.step === -1) {
    forcedNow.step = resumedFrom
    const what = forcedNow.changes.length > 0 ? `changed settings: ${describeChanges(forcedNow.changes, name)}` : 'settings the checkpoints do not record'
    log(`warning: resuming at step ${resumedFrom} with ${what} (forced); recorded in ${join(checkpointDir, runRecordFile)}`)
  }
  writeRunRecord(checkpointDir, record)
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
    if (existsSync(out) && readdirSync(out).length > 0) {
      throw new TrainingError(`${name('outDir')} ${out} was written to by something else during the run; the trained run is kept in ${checkpointDir}: empty ${out} and resume to export it.`)
    }
    const results = Object.fromEntries(
      trained.map((e): [string, Record<string, number>] => [String(e), final ? { val_loss: final.loss[e]!, perplexity: final.perplexity[e]! } : {}]),
    )
    const sorted = { exits: trained, results, mode: request.mode, seed, base_model: resolve(request.modelPath), train: { ...trainOptions } }
    if (adapter) writeAdapter(out, model.config, result, { ...sorted, ...adapterResults(adapter, result) })
    else exportModel({ config: model.config, weights: result.weights, sorted }, out, { tokenizerFrom: request.modelPath })
    return { finished: true, step: result.step, state: result.state, out }
  } finally {
    await trainer.release()
  }
}

/** sorted.json's record of an adapter run: its settings, and for DyLoRA the validation loss per rank and exit. */
function adapterResults(adapter: NonNullable<TrainOptions['adapter']>, result: TrainResult): Record<string, unknown> {
  const final = result.state.validation.at(-1)
  return {
    adapter: {
      kind: adapter.kind,
      rank: adapter.rank,
      alpha: adapter.alpha,
      targets: adapter.targets,
      train_norm: adapter.trainNorm,
      ...(adapter.quantizedBase ? { quantized_base: { bits: adapter.quantizedBase.bits, block_size: adapter.quantizedBase.blockSize } } : {}),
    },
    ...(adapter.kind === 'dylora' ? { ranks: evaluatedRanks(adapter.rank), results_by_rank: final?.lossByRank ?? {} } : {}),
  }
}

/** QLoRA quantizes an fp32/fp16/bf16 checkpoint itself: a GPTQ/AWQ folder's own 4-bit weights are not a base it trains on (not implemented). */
function refusePrequantizedBase(modelPath: string, name: SettingNamer): void {
  const { prequantized } = inspectModelFolder(modelPath)
  if (!prequantized) return
  throw new TuneSetupError(
    `${name('adapter')} qlora on ${modelPath}: it holds ${prequantized.method.toUpperCase()} 4-bit weights, and QLoRA on a pre-quantized base is not implemented; give the unquantized (fp32/fp16/bf16) checkpoint.`,
    ['adapter', 'modelPath'],
  )
}

/** The PEFT adapter folder of a finished adapter run (model/peft-adapter.ts). */
function writeAdapter(out: string, config: ModelConfig, result: TrainResult, sorted: SortedMetadata): void {
  const train = sorted.train as TrainOptions
  const adapter = train.adapter!
  writePeftAdapter(out, config, {
    spec: adapter,
    tensors: result.adapter!,
    norm: adapter.trainNorm ? result.weights.norm : undefined,
    baseModel: sorted.base_model as string,
    sorted,
  })
}

/**
 * The run record to go on with: the checkpoints' own when the settings are
 * the same; with a forced change appended (its step filled in once known)
 * when forced; otherwise a TuneSetupError listing every change.
 */
function resumeRecord(checkpointDir: string, settings: ReturnType<typeof settingsOf>, options: TuneJobOptions, name: SettingNamer): RunRecord {
  const hint = options.forceHint ? ` (${options.forceHint})` : ''
  const saved = readRunRecord(checkpointDir)
  if (!saved) {
    if (!options.force) throw new TuneSetupError(`${checkpointDir} does not say which settings its checkpoints were made with (no run.json); resume only with the same settings${hint}.`)
    return { settings, forced: [{ at: new Date().toISOString(), step: -1, changes: [] }] }
  }
  const changes = changedSettings(saved.settings, settings)
  if (changes.length === 0) return saved
  if (!options.force) {
    throw new TuneSetupError(
      `the checkpoints in ${checkpointDir} were made with other settings: ${describeChanges(changes, name)}. Resume with the same settings, or start a new run${hint}.`,
      changes.map((c) => c.setting),
    )
  }
  return { settings, forced: [...saved.forced, { at: new Date().toISOString(), step: -1, changes }] }
}

/** Where a request's settings differ from those of the checkpoints it would resume ([] when the same, or nothing to resume). */
export function resumeConflicts(request: Omit<TuneRequest, 'provider'>, numLayers: number): SettingChange[] {
  const checkpointDir = checkpointDirOf(request.outDir)
  if (!hasCheckpoints(checkpointDir)) return []
  const saved = readRunRecord(checkpointDir)
  if (!saved) return []
  let exits: number[]
  try {
    exits = parseExits(request.exits, numLayers)
  } catch {
    return [{ setting: 'exits', was: saved.settings.exits, now: request.exits }]
  }
  let adapter
  try {
    adapter = resolveAdapter(request, (setting) => setting)
  } catch {
    return [{ setting: 'adapter', was: saved.settings.adapter, now: request.adapter }]
  }
  return changedSettings(saved.settings, settingsOf(request, exits, adapter))
}
