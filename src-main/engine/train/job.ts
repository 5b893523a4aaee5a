/**
 * A fine-tuning run as a job for PyTorch (torchrun, DDP or FSDP): the same
 * run `sorted tune` makes, described for the PyTorch template
 * (resources/jobs/train.py) to carry out on machines this app does not run on.
 *
 * The job folder is self-contained: a copy of the model folder (copies, not
 * links: a job is taken to a cluster, where a link would point nowhere), the
 * dataset already tokenized and split exactly as the app does it (so both
 * sides train on the same tokens, and the PyTorch side needs no tokenizer),
 * job.json with every setting, the template and a README.
 *
 *   JOBDIR/job.json                  JobDescription
 *   JOBDIR/train.py                  the template
 *   JOBDIR/model/                    config.json, *.safetensors (+ index), tokenizer files
 *   JOBDIR/data/train.jsonl          {"input_ids": [...], "labels": [...]} per record, file order
 *   JOBDIR/data/validation.jsonl     the held-out records (absent without a split)
 *   JOBDIR/output/                   written by train.py (see job-output.ts)
 */
import { constants, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, writeFileSync, createWriteStream } from 'node:fs'
import { copyFile } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { once } from 'node:events'
import { formatProblem, splitDataset, type ErrorPolicy, type TokenizedRecord } from '../data'
import { inspectModelFolder, TOKENIZER_FILES } from '../model/import'
import type { ModelConfig } from '../model/types'
import { trainingSource } from './data-source'
import { TuneSetupError, type SettingNamer } from './errors'
import { requestedExits } from './exits'
import type { ScheduleKind } from './schedule'
import { openTuneData, plannedSteps } from './tune-data'
import type { TrainMode } from './trainer'

export const JOB_FORMAT = 'sorted-studio-job'
/** The layout of job.json (and of a job's output) this version writes and reads; train.py refuses a later one. */
export const JOB_VERSION = 1
/** The template's file name, in the templates folder and in the job folder. */
export const JOB_SCRIPT = 'train.py'

/** What a job trains: a tune request without what only a local run needs (its output folder, provider). */
export interface JobRequest {
  modelPath: string
  dataPath: string
  mode: TrainMode
  /** all | 2,4,6 | every:N:from:M */
  exits: string
  /** Exactly one of epochs and maxSteps; neither means one epoch. */
  epochs?: number | undefined
  maxSteps?: number | undefined
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
}

/** The model config as train.py reads it: the engine's normalised fields, so both sides read config.json one way. */
export type JobModelConfig = Omit<ModelConfig, 'raw'>

export interface JobDescription {
  format: typeof JOB_FORMAT
  version: number
  app: { name: string; version: string }
  createdAt: string
  model: { dir: 'model'; source: string; config: JobModelConfig; tokenizerFiles: string[] }
  data: { source: string; format: string; template: string; train: string; validation: string | null; trainRecords: number; validationRecords: number }
  /** Exactly the trainer's options (engine/train/trainer.ts TrainOptions), plus what decides the data order. */
  training: {
    mode: TrainMode
    exits: number[]
    trainedExits: number[]
    batchSize: number
    gradAccum: number
    totalSteps: number
    batchesPerEpoch: number
    lr: number
    weightDecay: number
    warmupSteps: number
    schedule: ScheduleKind
    maxGradNorm: number
    seqLen: number
    seed: number
    shuffle: boolean
    valSplit: number
    evalEvery: number
    checkpointEvery: number
  }
}

export interface PreparedJob {
  description: JobDescription
  train: TokenizedRecord[]
  validation: TokenizedRecord[]
  /** Files of the model folder the job carries (names in it). */
  modelFiles: string[]
  warnings: string[]
}

/** The model folder's files a job needs: its config, weights (with their index) and tokenizer files. */
function modelFilesOf(modelDir: string): string[] {
  const names = readdirSync(modelDir)
  const wanted = new Set<string>(['config.json', 'model.safetensors.index.json', ...TOKENIZER_FILES])
  return names.filter((n) => wanted.has(n) || n.endsWith('.safetensors')).sort()
}

/**
 * Checks a request as `sorted tune` would (model, sequence length, exits,
 * data, split, warmup), tokenizes and splits the data, and describes the job.
 * Reads the weights' headers only: a model too large for this machine can be
 * exported. Throws TuneSetupError (the request's fault) or the model's and
 * dataset's own errors, each naming the file.
 */
export function prepareJob(request: JobRequest, app: { name: string; version: string }, name: SettingNamer = (s) => s): PreparedJob {
  if (request.epochs !== undefined && request.maxSteps !== undefined) throw new TuneSetupError(`give ${name('epochs')} or ${name('maxSteps')}, not both.`, ['epochs', 'maxSteps'])
  const modelDir = resolve(request.modelPath)
  const { config } = inspectModelFolder(modelDir)
  const exits = requestedExits(config, request, name)
  const { dataset, template } = openTuneData(modelDir, request.dataPath, { seqLen: request.seqLen, onError: request.onError, vocabSize: config.vocabSize })
  const warnings = [...dataset.warnings]
  for (const skipped of dataset.skipped) for (const problem of skipped.problems) warnings.push(`skipped ${formatProblem(problem)}`)
  if (request.valSplit > 0 && dataset.records.length < 2) {
    throw new TuneSetupError(
      `${name('valSplit')} ${request.valSplit} needs at least 2 records (one to train on, one to validate with); ${request.dataPath} has ${dataset.records.length}. Give ${name('valSplit')} 0, or more data.`,
      ['valSplit'],
    )
  }
  const { train, validation } = splitDataset(dataset.records, { valFraction: request.valSplit, seed: request.seed })
  const { batchesPerEpoch } = trainingSource(train, { batchSize: request.batchSize, seqLen: request.seqLen, seed: request.seed, shuffle: request.shuffle })
  const totalSteps = plannedSteps(batchesPerEpoch, request)
  if (request.warmup > 0 && request.warmup >= totalSteps) {
    throw new TuneSetupError(
      `${name('warmup')} ${request.warmup} is not shorter than the run (${totalSteps} step${totalSteps === 1 ? '' : 's'}): the learning rate would never reach ${name('lr')} ${request.lr}. Give ${name('warmup')} below ${totalSteps}.`,
      ['warmup'],
    )
  }
  const { raw: _raw, ...modelConfig } = config
  const modelFiles = modelFilesOf(modelDir)
  const description: JobDescription = {
    format: JOB_FORMAT,
    version: JOB_VERSION,
    app,
    createdAt: new Date().toISOString(),
    model: { dir: 'model', source: modelDir, config: modelConfig, tokenizerFiles: modelFiles.filter((n) => (TOKENIZER_FILES as readonly string[]).includes(n)) },
    data: {
      source: resolve(request.dataPath),
      format: dataset.formatName,
      template,
      train: 'data/train.jsonl',
      validation: validation.length > 0 ? 'data/validation.jsonl' : null,
      trainRecords: train.length,
      validationRecords: validation.length,
    },
    training: {
      mode: request.mode,
      exits,
      trainedExits: request.mode === 'sft' ? [config.numLayers] : exits,
      batchSize: request.batchSize,
      gradAccum: request.gradAccum,
      totalSteps,
      batchesPerEpoch,
      lr: request.lr,
      weightDecay: request.weightDecay,
      warmupSteps: request.warmup,
      schedule: request.schedule,
      maxGradNorm: request.maxGradNorm,
      seqLen: request.seqLen,
      seed: request.seed,
      shuffle: request.shuffle,
      valSplit: request.valSplit,
      evalEvery: request.evalEvery,
      checkpointEvery: request.checkpointEvery,
    },
  }
  return { description, train, validation, modelFiles, warnings }
}

/** One record per line, as train.py reads them. Streamed: a large dataset is never one string. */
async function writeRecords(file: string, records: readonly TokenizedRecord[]): Promise<void> {
  const out = createWriteStream(file)
  for (const record of records) {
    if (!out.write(`${JSON.stringify({ input_ids: record.inputIds, labels: record.labels })}\n`)) await once(out, 'drain')
  }
  out.end()
  await once(out, 'finish')
}

export interface WriteJobOptions {
  /** Folder holding the template (train.py). */
  templateDir: string
  /** The README, written by the caller (it knows how the user runs things). */
  readme: string
  /** The flag or field that named the job folder, for messages. */
  label: string
}

/**
 * Writes the job folder whole or not at all: into a staging folder beside
 * `jobDir`, renamed into place at the end. `jobDir` must be absent or empty.
 * Model files are copied (a reflink where the file system offers one).
 */
export async function writeJobFolder(prepared: PreparedJob, jobDir: string, options: WriteJobOptions): Promise<string> {
  const target = resolve(jobDir)
  if (existsSync(target)) {
    if (!statSync(target).isDirectory()) throw new TuneSetupError(`${options.label}: ${target} is a file; give a folder for the job.`, ['jobDir'])
    if (readdirSync(target).length > 0) throw new TuneSetupError(`${options.label}: ${target} is not empty; give a new or empty folder for the job.`, ['jobDir'])
  }
  const template = join(options.templateDir, JOB_SCRIPT)
  if (!existsSync(template)) throw new TuneSetupError(`the job template ${template} is missing: this installation of the app is incomplete.`)
  mkdirSync(dirname(target), { recursive: true })
  const staging = mkdtempSync(join(dirname(target), `.${basename(target)}.job-`))
  try {
    const source = prepared.description.model.source
    mkdirSync(join(staging, 'model'))
    for (const name of prepared.modelFiles) await copyFile(join(source, name), join(staging, 'model', name), constants.COPYFILE_FICLONE)
    mkdirSync(join(staging, 'data'))
    await writeRecords(join(staging, prepared.description.data.train), prepared.train)
    if (prepared.description.data.validation) await writeRecords(join(staging, prepared.description.data.validation), prepared.validation)
    await copyFile(template, join(staging, JOB_SCRIPT))
    writeFileSync(join(staging, 'job.json'), `${JSON.stringify(prepared.description, null, 2)}\n`)
    writeFileSync(join(staging, 'README.md'), options.readme)
    if (existsSync(target)) rmSync(target, { recursive: true }) // empty, checked above
    renameSync(staging, target)
    return target
  } catch (error) {
    rmSync(staging, { recursive: true, force: true })
    throw error
  }
}
