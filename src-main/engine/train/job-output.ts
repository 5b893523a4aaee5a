/**
 * What a PyTorch job (job.ts, resources/jobs/train.py) hands back: its
 * output folder is a Hugging Face folder with sorted.json (whose `job` field
 * says which job format wrote it), history.jsonl (one
 * `{"step", "loss": {exit: value}, "lr", …}` per optimizer step) and
 * validation.jsonl (one `{"step", "loss": {exit: value}}` per validation).
 * This reads the run's record back, refusing a format newer than this app's
 * and naming the file, line and field of anything malformed.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { z } from 'zod'
import { JOB_FORMAT, JOB_VERSION } from './job'

export class JobOutputError extends Error {
  override name = 'JobOutputError'
}

export const HISTORY_FILE = 'history.jsonl'
export const VALIDATION_FILE = 'validation.jsonl'

const Losses = z.record(z.string().regex(/^\d+$/, 'an exit (layer count)'), z.number())
const StepLine = z.looseObject({ step: z.number().int().positive(), loss: Losses, lr: z.number().optional(), tokensPerSecond: z.number().optional() })
const ValidationLine = z.looseObject({ step: z.number().int().nonnegative(), loss: Losses })
const SortedJob = z.looseObject({
  mode: z.enum(['soft', 'sortednet', 'sft']).optional(),
  train: z.looseObject({ totalSteps: z.number().int().optional() }).optional(),
  job: z.looseObject({ format: z.string(), version: z.number().int() }).optional(),
})

export interface JobOutput {
  mode: 'soft' | 'sortednet' | 'sft'
  totalSteps: number
  /** sorted.json's `train`: the job's settings. */
  settings: Record<string, unknown>
  baseModel: string | undefined
  /** The dataset the job's data was tokenized from (on the machine that exported it). */
  dataSource: string | undefined
  steps: z.infer<typeof StepLine>[]
  validation: z.infer<typeof ValidationLine>[]
}

function readLines<T>(file: string, schema: z.ZodType<T>): T[] {
  const lines = readFileSync(file, 'utf8').split('\n')
  const out: T[] = []
  lines.forEach((line, i) => {
    if (line.trim() === '') return
    let json: unknown
    try {
      json = JSON.parse(line)
    } catch {
      throw new JobOutputError(`${file}:${i + 1}: not valid JSON.`)
    }
    const parsed = schema.safeParse(json)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]
      throw new JobOutputError(`${file}:${i + 1}: field "${issue?.path.join('.') || '(root)'}": ${issue?.message ?? 'invalid'}.`)
    }
    out.push(parsed.data)
  })
  return out
}

const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined)

/** A job folder (not its output) given where a model folder was expected: what to do instead, or undefined when it is not one. */
export function jobFolderProblem(dir: string): string | undefined {
  const file = join(dir, 'job.json')
  if (!existsSync(file) || existsSync(join(dir, 'config.json'))) return undefined
  let version: unknown
  try {
    const json = JSON.parse(readFileSync(file, 'utf8')) as { format?: unknown; version?: unknown }
    if (json.format !== JOB_FORMAT) return undefined
    version = json.version
  } catch {
    return undefined
  }
  if (typeof version === 'number' && version > JOB_VERSION) {
    return `${file}: field "version": ${version}: this job was written by a newer Sorted Studio (this one reads job format ${JOB_VERSION}); update the app.`
  }
  return `${dir} is a training job, not a model: run it (see its README.md), then import ${join(dir, 'output')}.`
}

/**
 * The run recorded in a job's output folder; undefined when the folder has
 * no history.jsonl (an ordinary model). Throws JobOutputError naming the
 * file (and line and field).
 */
export function readJobOutput(dir: string): JobOutput | undefined {
  const historyFile = join(dir, HISTORY_FILE)
  if (!existsSync(historyFile)) return undefined
  const sortedFile = join(dir, 'sorted.json')
  if (!existsSync(sortedFile)) throw new JobOutputError(`${sortedFile}: missing beside ${HISTORY_FILE}: the job's output is incomplete.`)
  let json: unknown
  try {
    json = JSON.parse(readFileSync(sortedFile, 'utf8'))
  } catch {
    throw new JobOutputError(`${sortedFile}: not valid JSON.`)
  }
  const parsed = SortedJob.safeParse(json)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new JobOutputError(`${sortedFile}: field "${issue?.path.join('.') || '(root)'}": ${issue?.message ?? 'invalid'}.`)
  }
  const sorted = parsed.data
  if (sorted.job && sorted.job.format === JOB_FORMAT && sorted.job.version > JOB_VERSION) {
    throw new JobOutputError(
      `${sortedFile}: field "job.version": ${sorted.job.version}: written by a newer Sorted Studio's job (this one reads job format ${JOB_VERSION}); update the app to import it.`,
    )
  }
  const steps = readLines(historyFile, StepLine)
  const validationFile = join(dir, VALIDATION_FILE)
  const validation = existsSync(validationFile) ? readLines(validationFile, ValidationLine) : []
  const settings = (sorted.train ?? {}) as Record<string, unknown>
  return {
    mode: sorted.mode ?? 'soft',
    totalSteps: sorted.train?.totalSteps ?? steps.at(-1)?.step ?? 0,
    settings,
    baseModel: text((json as { base_model?: unknown }).base_model),
    dataSource: text((json as { data?: unknown }).data),
    steps,
    validation,
  }
}
