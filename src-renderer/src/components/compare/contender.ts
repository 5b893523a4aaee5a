/** What a contender picker holds: a model folder, the model read from it, and the chosen exit. */
import type { WeightPrecision } from '../../../../src-main/api/contract'
import type { ModelChoice } from '../../composables/model-catalog'

export interface ContenderChoice {
  modelPath: string
  /** A layer count, 'every' (every exit: a matrix), or null until a model is read. */
  exit: number | 'every' | null
  /** The folder's model once read; null while none is (or the folder is not a model). */
  model: ModelChoice | null
  /** The weight precision it runs in (the compare view offers it); absent: fp32. */
  precision?: WeightPrecision
}

export function emptyContender(): ContenderChoice {
  return { modelPath: '', exit: null, model: null }
}

/** `name@exit`, or `name (every exit)`. */
export function contenderLabel(c: { modelName?: string; name?: string; exit: number | 'every' | null }): string {
  const name = c.modelName ?? c.name ?? '?'
  if (c.exit === 'every') return `${name} (every exit)`
  return c.exit === null ? name : `${name}@${c.exit}`
}

/** What compare.generate takes for a chosen contender: fp32 is the default and is left out. */
export function contenderRequest(c: ContenderChoice): { modelPath: string; exit: number; precision?: WeightPrecision } {
  return { modelPath: c.modelPath, exit: c.exit as number, ...(c.precision && c.precision !== 'fp32' ? { precision: c.precision } : {}) }
}
