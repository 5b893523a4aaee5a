/**
 * Checkpoints that survive a crash at any moment and are checked before they
 * are trusted. Each is a folder written under a temporary name and renamed
 * into place (rename is atomic), holding the parameters, the AdamW moments
 * and the run state as of a step, and last a manifest with the SHA-256 of
 * each of those files: a folder is complete exactly when it has a manifest,
 * and intact when every file still matches it. A leftover temporary folder
 * is debris from a crash and is removed.
 *
 * Resuming takes the newest intact checkpoint: a damaged newer one is named
 * in a warning and passed over (two are kept, so the one before it is
 * there); when none is intact the error names the folder and why each failed.
 */
import { createHash } from 'node:crypto'
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { z } from 'zod'
import { readSafetensors, writeSafetensors } from '../model/safetensors'
import { CheckpointError } from './errors'

export interface CheckpointData<State> {
  step: number
  params: Map<string, { shape: number[]; data: Float32Array }>
  m: Map<string, Float32Array>
  v: Map<string, Float32Array>
  state: State
}

const prefix = 'step-'
const manifestFile = 'manifest.json'
const dataFiles = ['params.safetensors', 'optimizer.safetensors', 'state.json'] as const

const Manifest = z.object({
  step: z.number().int().nonnegative(),
  /** File name → SHA-256 (hex) of its bytes. */
  sha256: z.record(z.string(), z.string().regex(/^[0-9a-f]{64}$/)),
})

const StateFile = z.object({ step: z.number().int().nonnegative(), state: z.unknown() })

/** SHA-256 of a file, read in pieces: optimizer files are twice the model's size. */
export function sha256File(path: string): string {
  const hash = createHash('sha256')
  const buffer = Buffer.allocUnsafe(16 * 1024 * 1024)
  const fd = openSync(path, 'r')
  try {
    for (let n = readSync(fd, buffer); n > 0; n = readSync(fd, buffer)) hash.update(buffer.subarray(0, n))
  } finally {
    closeSync(fd)
  }
  return hash.digest('hex')
}

export function writeCheckpoint<State>(dir: string, data: CheckpointData<State>, keep = 2): string {
  mkdirSync(dir, { recursive: true })
  const final = join(dir, `${prefix}${String(data.step).padStart(8, '0')}`)
  const temporary = `${final}.tmp-${process.pid}`
  rmSync(temporary, { recursive: true, force: true })
  mkdirSync(temporary)
  const tensors = [...data.params].map(([name, { shape, data: values }]) => ({ name, shape, data: values }))
  writeSafetensors(join(temporary, 'params.safetensors'), tensors, { dtype: 'F32' })
  const moments = [...data.params].flatMap(([name, { shape }]) => [
    { name: `m.${name}`, shape, data: data.m.get(name)! },
    { name: `v.${name}`, shape, data: data.v.get(name)! },
  ])
  writeSafetensors(join(temporary, 'optimizer.safetensors'), moments, { dtype: 'F32' })
  writeFileSync(join(temporary, 'state.json'), JSON.stringify({ step: data.step, state: data.state }))
  // The manifest last: a folder is complete exactly when it has one.
  const sha256 = Object.fromEntries(dataFiles.map((f) => [f, sha256File(join(temporary, f))]))
  writeFileSync(join(temporary, manifestFile), JSON.stringify({ step: data.step, sha256 } satisfies z.input<typeof Manifest>))
  rmSync(final, { recursive: true, force: true })
  renameSync(temporary, final)
  for (const old of checkpointFolders(dir).slice(0, -keep)) rmSync(join(dir, old), { recursive: true, force: true })
  return final
}

/** Whether `dir` holds any checkpoint (intact or not): a run to resume, or to remove, before another starts there. */
export function hasCheckpoints(dir: string): boolean {
  return checkpointFolders(dir).length > 0
}

/** Checkpoint folders, oldest first (complete or not: reading tells). */
function checkpointFolders(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir)
    .filter((name) => name.startsWith(prefix) && !name.includes('.tmp-'))
    .sort()
}

/** Why a checkpoint folder cannot be trusted; caught per folder by {@link readLatestCheckpoint}. */
class Damaged extends Error {}

function readJson<T>(file: string, schema: z.ZodType<T>): T {
  let json: unknown
  try {
    json = JSON.parse(readFileSync(file, 'utf8'))
  } catch (error) {
    throw new Damaged(`${file} ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'is missing' : 'is not valid JSON'}`)
  }
  const parsed = schema.safeParse(json)
  if (!parsed.success) throw new Damaged(`${file} does not have the expected fields`)
  return parsed.data
}

/** One checkpoint folder, verified against its manifest; a Damaged error says what failed. */
function readCheckpointFolder<State>(folder: string): CheckpointData<State> {
  const manifest = readJson(join(folder, manifestFile), Manifest)
  for (const name of dataFiles) {
    const expected = manifest.sha256[name]
    const file = join(folder, name)
    if (expected === undefined) throw new Damaged(`${join(folder, manifestFile)} lists no checksum for ${name}`)
    if (!existsSync(file)) throw new Damaged(`${file} is missing`)
    if (sha256File(file) !== expected) throw new Damaged(`${file} does not match its checksum`)
  }
  const { step, state } = readJson(join(folder, 'state.json'), StateFile)
  if (step !== manifest.step) throw new Damaged(`${join(folder, 'state.json')} is for step ${step}, the manifest for ${manifest.step}`)
  const read = (name: string) => {
    try {
      return readSafetensors(join(folder, name)).tensors
    } catch (error) {
      throw new Damaged((error as Error).message)
    }
  }
  const params = new Map<string, { shape: number[]; data: Float32Array }>()
  for (const [name, t] of read('params.safetensors')) params.set(name, { shape: t.shape, data: t.data })
  const m = new Map<string, Float32Array>()
  const v = new Map<string, Float32Array>()
  for (const [name, t] of read('optimizer.safetensors')) {
    if (name.startsWith('m.')) m.set(name.slice(2), t.data)
    else if (name.startsWith('v.')) v.set(name.slice(2), t.data)
  }
  for (const [name, { data }] of params) {
    if (m.get(name)?.length !== data.length || v.get(name)?.length !== data.length) {
      throw new Damaged(`${join(folder, 'optimizer.safetensors')} has no moments of the right size for ${name}`)
    }
  }
  return { step, params, m, v, state: state as State }
}

export interface ReadCheckpointOptions {
  /** Told about each damaged checkpoint passed over, with its path. */
  warn?: (message: string) => void
}

/**
 * The newest intact checkpoint and its folder, or undefined when there is
 * none at all; removes crash debris. Damaged ones are passed over with a
 * warning; a CheckpointError when every one is damaged.
 */
export function readLatestCheckpoint<State>(dir: string, options: ReadCheckpointOptions = {}): (CheckpointData<State> & { path: string }) | undefined {
  if (!existsSync(dir)) return undefined
  for (const name of readdirSync(dir)) if (name.includes('.tmp-')) rmSync(join(dir, name), { recursive: true, force: true })
  const folders = checkpointFolders(dir).reverse()
  const failures: string[] = []
  for (const [i, name] of folders.entries()) {
    const path = join(dir, name)
    try {
      return { ...readCheckpointFolder<State>(path), path }
    } catch (error) {
      if (!(error instanceof Damaged)) throw error
      failures.push(error.message)
      const next = folders[i + 1]
      options.warn?.(`warning: checkpoint ${path} is damaged (${error.message}); ${next ? `resuming from the one before it, ${join(dir, next)}` : 'no older checkpoint is left'}`)
    }
  }
  if (failures.length === 0) return undefined
  throw new CheckpointError(`no intact checkpoint in ${dir} to resume from (${failures.join('; ')}); remove the folder to start over`)
}
