/**
 * Checkpoints that survive a crash at any moment: each is a folder written
 * under a temporary name and renamed into place (rename is atomic), holding
 * the parameters, the AdamW moments and the run state as of a step. A
 * leftover temporary folder is debris from a crash and is removed.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { readSafetensors, writeSafetensors } from '../model/safetensors'

export interface CheckpointData<State> {
  step: number
  params: Map<string, { shape: number[]; data: Float32Array }>
  m: Map<string, Float32Array>
  v: Map<string, Float32Array>
  state: State
}

const prefix = 'step-'

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
  // state.json last: a folder is complete exactly when it has one.
  writeFileSync(join(temporary, 'state.json'), JSON.stringify({ step: data.step, state: data.state }))
  rmSync(final, { recursive: true, force: true })
  renameSync(temporary, final)
  for (const old of checkpointFolders(dir).slice(0, -keep)) rmSync(join(dir, old), { recursive: true, force: true })
  return final
}

function checkpointFolders(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir)
    .filter((name) => name.startsWith(prefix) && !name.includes('.tmp-') && existsSync(join(dir, name, 'state.json')))
    .sort()
}

/** The newest complete checkpoint, or undefined; removes crash debris. */
export function readLatestCheckpoint<State>(dir: string): CheckpointData<State> | undefined {
  if (!existsSync(dir)) return undefined
  for (const name of readdirSync(dir)) if (name.includes('.tmp-')) rmSync(join(dir, name), { recursive: true, force: true })
  const latest = checkpointFolders(dir).at(-1)
  if (!latest) return undefined
  const folder = join(dir, latest)
  const { step, state } = JSON.parse(readFileSync(join(folder, 'state.json'), 'utf8')) as { step: number; state: State }
  const params = new Map<string, { shape: number[]; data: Float32Array }>()
  for (const [name, t] of readSafetensors(join(folder, 'params.safetensors')).tensors) params.set(name, { shape: t.shape, data: t.data })
  const m = new Map<string, Float32Array>()
  const v = new Map<string, Float32Array>()
  for (const [name, t] of readSafetensors(join(folder, 'optimizer.safetensors')).tensors) {
    if (name.startsWith('m.')) m.set(name.slice(2), t.data)
    else v.set(name.slice(2), t.data)
  }
  return { step, params, m, v, state }
}
