/**
 * The settings a run's checkpoints were made with, kept in `run.json` in the
 * checkpoint folder, so that a resume can tell whether it is asked to go on
 * with the same run. A resumed run repeats the uninterrupted one exactly only
 * with the same settings; with others (a new learning rate, mode, exits or
 * data) it silently becomes a different run. So a resume with changed
 * settings is refused, listing each change, unless forced; a forced resume is
 * recorded in the file's history, with the step it happened at and the
 * changes, for whoever reads the run later.
 *
 * Settings that do not change what is computed (where checkpoints and
 * validations happen, the provider, the error policy) are not compared.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { z } from 'zod'
import { TuneSetupError, type SettingNamer } from './errors'
import type { TrainedAdapter } from './sorted-graph'
import type { TrainMode } from './trainer'

export const RunSettings = z.object({
  modelPath: z.string(),
  dataPath: z.string(),
  mode: z.enum(['soft', 'sortednet', 'sft']),
  exits: z.array(z.number().int()),
  epochs: z.number().nullable(),
  maxSteps: z.number().int().nullable(),
  batchSize: z.number().int(),
  gradAccum: z.number().int(),
  lr: z.number(),
  weightDecay: z.number(),
  warmup: z.number().int(),
  schedule: z.enum(['cosine', 'constant']),
  maxGradNorm: z.number(),
  seqLen: z.number().int(),
  seed: z.number().int(),
  shuffle: z.boolean(),
  valSplit: z.number(),
  /** The adapter trained (null: every weight); absent in records made before adapters existed, which were full runs. */
  adapter: z
    .object({
      kind: z.enum(['lora', 'dylora']),
      rank: z.number().int(),
      alpha: z.number(),
      targets: z.array(z.string()),
      trainNorm: z.boolean(),
      /** QLoRA's 4-bit base (null: the fp32 base; absent in records made before QLoRA). */
      quantizedBase: z.object({ bits: z.literal(4), blockSize: z.union([z.literal(32), z.literal(64), z.literal(128)]) }).nullable().default(null),
    })
    .nullable()
    .default(null),
})
export type RunSettings = z.infer<typeof RunSettings>
export type Setting = keyof RunSettings

const SettingChange = z.object({ setting: RunSettings.keyof(), was: z.unknown(), now: z.unknown() })
export type SettingChange = z.infer<typeof SettingChange>

const RunRecord = z.object({
  settings: RunSettings,
  /** Resumes that went on with changed settings (forced), oldest first. */
  forced: z.array(z.object({ at: z.string(), step: z.number().int(), changes: z.array(SettingChange) })),
})
export type RunRecord = z.infer<typeof RunRecord>

export const runRecordFile = 'run.json'

/** What a request trains, in comparable form: paths resolved, the exits as the list they stand for. */
export function settingsOf(
  request: {
    modelPath: string; dataPath: string; mode: TrainMode; epochs?: number | undefined; maxSteps?: number | undefined; batchSize: number; gradAccum: number
    lr: number; weightDecay: number; warmup: number; schedule: 'cosine' | 'constant'; maxGradNorm: number; seqLen: number; seed: number; shuffle: boolean; valSplit: number
  },
  exits: number[],
  adapter?: TrainedAdapter,
): RunSettings {
  return {
    modelPath: resolve(request.modelPath),
    dataPath: resolve(request.dataPath),
    mode: request.mode,
    exits,
    epochs: request.epochs ?? null,
    maxSteps: request.maxSteps ?? null,
    batchSize: request.batchSize,
    gradAccum: request.gradAccum,
    lr: request.lr,
    weightDecay: request.weightDecay,
    warmup: request.warmup,
    schedule: request.schedule,
    maxGradNorm: request.maxGradNorm,
    seqLen: request.seqLen,
    seed: request.seed,
    shuffle: request.shuffle,
    valSplit: request.valSplit,
    adapter: adapter
      ? { kind: adapter.kind, rank: adapter.rank, alpha: adapter.alpha, targets: [...adapter.targets], trainNorm: adapter.trainNorm, quantizedBase: adapter.quantizedBase ?? null }
      : null,
  }
}

/** The record in a checkpoint folder; undefined when there is none; a TuneSetupError naming the file when it is damaged. */
export function readRunRecord(checkpointDir: string): RunRecord | undefined {
  const file = join(checkpointDir, runRecordFile)
  if (!existsSync(file)) return undefined
  let json: unknown
  try {
    json = JSON.parse(readFileSync(file, 'utf8'))
  } catch {
    throw new TuneSetupError(`${file} is not valid JSON: the settings the checkpoints were made with are unknown.`)
  }
  const parsed = RunRecord.safeParse(json)
  if (!parsed.success) throw new TuneSetupError(`${file} does not have the expected fields: the settings the checkpoints were made with are unknown.`)
  return parsed.data
}

/** Written whole or not at all (temporary file, then rename). */
export function writeRunRecord(checkpointDir: string, record: RunRecord): void {
  mkdirSync(checkpointDir, { recursive: true })
  const file = join(checkpointDir, runRecordFile)
  const temporary = `${file}.tmp-${process.pid}`
  writeFileSync(temporary, `${JSON.stringify(record, null, 2)}\n`)
  renameSync(temporary, file)
}

export function changedSettings(was: RunSettings, now: RunSettings): SettingChange[] {
  const changes: SettingChange[] = []
  for (const setting of Object.keys(RunSettings.shape) as Setting[]) {
    if (JSON.stringify(was[setting]) !== JSON.stringify(now[setting])) changes.push({ setting, was: was[setting], now: now[setting] })
  }
  return changes
}

function shown(value: unknown): string {
  if (value === null || value === undefined) return '(not set)'
  if (Array.isArray(value)) return value.join(',')
  if (typeof value === 'object' && 'kind' in value) {
    const a = value as NonNullable<RunSettings['adapter']>
    const base = a.quantizedBase ? `, ${a.quantizedBase.bits}-bit base, block ${a.quantizedBase.blockSize}` : ''
    return `${a.quantizedBase ? 'qlora' : a.kind} (rank ${a.rank}, alpha ${a.alpha}, targets ${a.targets.join(',')}${a.trainNorm ? ', final norm trained' : ''}${base})`
  }
  return String(value)
}

/** `--lr 0.0001 (now 0.003), --mode soft (now sft)`. */
export function describeChanges(changes: SettingChange[], name: SettingNamer): string {
  return changes.map((c) => `${name(c.setting)} ${shown(c.was)} (now ${shown(c.now)})`).join(', ')
}
