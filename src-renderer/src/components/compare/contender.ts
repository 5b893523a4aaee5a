/** What a contender picker holds: a model folder, the model read from it, the chosen exit or decoding mode, and its weights. */
import type { Contender, ContenderMode, WeightPrecision } from '../../../../src-main/api/contract'
import type { ModelChoice } from '../../composables/model-catalog'

export interface ContenderChoice {
  modelPath: string
  /** A layer count, 'every' (every exit: a matrix), or null until a model is read. With a mode: the full depth. */
  exit: number | 'every' | null
  /** The folder's model once read; null while none is (or the folder is not a model). */
  model: ModelChoice | null
  /** The weight precision it runs in; absent: fp32. */
  precision?: WeightPrecision
  /** Exact or Auto (τ) instead of a fixed exit; absent: at `exit`. */
  mode?: ContenderMode
}

export function emptyContender(): ContenderChoice {
  return { modelPath: '', exit: null, model: null }
}

/** `@8`, `@exact`, `@auto:0.5`: how `sorted eval` names a contender's depth. */
export function depthLabel(c: { exit: number | 'every' | null; mode?: ContenderMode | null | undefined }): string {
  if (c.mode?.kind === 'exact') return '@exact'
  if (c.mode?.kind === 'auto') return `@auto:${c.mode.tau}`
  return c.exit === null || c.exit === 'every' ? '' : `@${c.exit}`
}

/** ` int4`, ` int4 (block 64)`; nothing for fp32 (the default). */
export function precisionLabel(c: { precision?: WeightPrecision | null | undefined; blockSize?: number | undefined }): string {
  if (!c.precision || c.precision === 'fp32') return ''
  return c.blockSize !== undefined ? ` ${c.precision} (block ${c.blockSize})` : ` ${c.precision}`
}

/** `name@exit`, `name@8 int4`, `name@exact`, `name@auto:0.5 int8`, or `name (every exit)`. */
export function contenderLabel(c: {
  modelName?: string
  name?: string
  exit: number | 'every' | null
  precision?: WeightPrecision | null | undefined
  blockSize?: number | undefined
  mode?: ContenderMode | null | undefined
}): string {
  const name = c.modelName ?? c.name ?? '?'
  if (c.exit === 'every' && !c.mode) return `${name} (every exit)${precisionLabel(c)}`
  return `${name}${depthLabel(c)}${precisionLabel(c)}`
}

/**
 * What compare.generate and evaluations.start take for a chosen contender:
 * fp32 is the default and is left out; a mode goes without an exit (it picks
 * the depth per token), and so does 'every' (a matrix over A's exits).
 */
export function contenderRequest(c: ContenderChoice): Contender {
  return {
    modelPath: c.modelPath,
    ...(c.mode ? { mode: c.mode } : typeof c.exit === 'number' ? { exit: c.exit } : {}),
    ...(c.precision && c.precision !== 'fp32' ? { precision: c.precision } : {}),
  }
}
