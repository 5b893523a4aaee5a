/**
 * The training flags `sorted tune` and `sorted export-job` share, and the
 * request they make: one table, so that an exported job is exactly the run
 * `sorted tune` would make with the same flags.
 */
import type { ErrorPolicy } from '../engine/data'
import { inspectModelFolder } from '../engine/model/import'
import type { JobRequest } from '../engine/train/job'
import type { ScheduleKind } from '../engine/train/schedule'
import { defaultSeqLen } from '../engine/train/sequence-length'
import type { TrainMode } from '../engine/train/trainer'
import { UsageError } from './commands'
import { nonNegative, numberOption, positiveInt } from './options'
import { tuningDefaults } from '../api/contract'

/** parseArgs options of every training setting (the tune defaults). */
export const trainingFlagOptions = {
  model: { type: 'string' },
  data: { type: 'string' },
  mode: { type: 'string' },
  exits: { type: 'string', default: tuningDefaults.exits },
  epochs: { type: 'string' },
  'max-steps': { type: 'string' },
  'batch-size': { type: 'string', default: String(tuningDefaults.batchSize) },
  'grad-accum': { type: 'string', default: String(tuningDefaults.gradAccum) },
  lr: { type: 'string', default: String(tuningDefaults.lr) },
  'weight-decay': { type: 'string', default: String(tuningDefaults.weightDecay) },
  warmup: { type: 'string', default: String(tuningDefaults.warmup) },
  schedule: { type: 'string', default: tuningDefaults.schedule },
  'max-grad-norm': { type: 'string', default: String(tuningDefaults.maxGradNorm) },
  'seq-len': { type: 'string' },
  seed: { type: 'string', default: String(tuningDefaults.seed) },
  'no-shuffle': { type: 'boolean', default: !tuningDefaults.shuffle },
  'val-split': { type: 'string', default: String(tuningDefaults.valSplit) },
  'on-error': { type: 'string', default: tuningDefaults.onError },
  'checkpoint-every': { type: 'string', default: String(tuningDefaults.checkpointEvery) },
  'eval-every': { type: 'string', default: String(tuningDefaults.evalEvery) },
} as const

type FlagValues = { [K in keyof typeof trainingFlagOptions]?: (typeof trainingFlagOptions)[K]['type'] extends 'boolean' ? boolean : string }

/** --seq-len as given, else the tuning default or the model's context when shorter (a bad model folder is reported by the load). */
export function seqLenFor(text: string | undefined, modelDir: string): number {
  const given = numberOption('seq-len', text, (n) => Number.isInteger(n) && n >= 2, 'a whole number ≥ 2')
  return given ?? defaultSeqLen(inspectModelFolder(modelDir).config, tuningDefaults.seqLen)
}

/** The training settings the flags give, checked one by one (a UsageError names the flag). `--out` is the caller's. */
export function trainingRequestFrom(values: FlagValues & { out?: string | undefined }): JobRequest {
  for (const required of ['model', 'data', 'mode', 'out'] as const) if (!values[required]) throw new UsageError(`--${required} is required.`)
  const mode = values.mode as TrainMode
  if (!['soft', 'sortednet', 'sft'].includes(mode)) throw new UsageError(`--mode must be soft, sortednet or sft (got "${values.mode}").`)
  if (values.epochs !== undefined && values['max-steps'] !== undefined) throw new UsageError('Give --epochs or --max-steps, not both.')
  if (!['cosine', 'constant'].includes(values.schedule!)) throw new UsageError('--schedule must be cosine or constant.')
  if (!['stop', 'skip'].includes(values['on-error']!)) throw new UsageError('--on-error must be stop or skip.')
  const wholeAtLeastZero = (n: number) => Number.isInteger(n) && n >= 0
  return {
    modelPath: values.model!,
    dataPath: values.data!,
    mode,
    exits: values.exits!,
    ...(values.epochs !== undefined ? { epochs: numberOption('epochs', values.epochs, (n) => n > 0, 'a number > 0')! } : {}),
    ...(values['max-steps'] !== undefined ? { maxSteps: numberOption('max-steps', values['max-steps'], positiveInt, 'a positive whole number')! } : {}),
    batchSize: numberOption('batch-size', values['batch-size'], positiveInt, 'a positive whole number')!,
    gradAccum: numberOption('grad-accum', values['grad-accum'], positiveInt, 'a positive whole number')!,
    lr: numberOption('lr', values.lr, (n) => n > 0, 'a number > 0')!,
    weightDecay: numberOption('weight-decay', values['weight-decay'], nonNegative, 'a number ≥ 0')!,
    warmup: numberOption('warmup', values.warmup, wholeAtLeastZero, 'a whole number ≥ 0')!,
    schedule: values.schedule as ScheduleKind,
    maxGradNorm: numberOption('max-grad-norm', values['max-grad-norm'], nonNegative, 'a number ≥ 0')!,
    seqLen: seqLenFor(values['seq-len'], values.model!),
    seed: numberOption('seed', values.seed, Number.isInteger, 'a whole number')!,
    shuffle: !values['no-shuffle'],
    valSplit: numberOption('val-split', values['val-split'], (n) => n >= 0 && n < 1, 'in [0, 1)')!,
    onError: values['on-error'] as ErrorPolicy,
    checkpointEvery: numberOption('checkpoint-every', values['checkpoint-every'], wholeAtLeastZero, 'a whole number ≥ 0')!,
    evalEvery: numberOption('eval-every', values['eval-every'], wholeAtLeastZero, 'a whole number ≥ 0')!,
  }
}
