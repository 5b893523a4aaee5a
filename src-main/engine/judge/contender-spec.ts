/**
 * A contender as `sorted eval` names it: `MODEL`, `MODEL@EXIT` (a layer
 * count), `MODEL@exact` (Exact mode) or `MODEL@auto:TAU` (Auto mode, TAU in
 * 0..1). A folder whose own name holds an `@` is still a folder: the caller
 * says which paths exist, and a suffix with a path separator is never a spec.
 */
import type { ContenderMode } from './contender'

export interface ContenderSpec {
  modelPath: string
  exit?: number
  mode?: ContenderMode
}

/** A malformed contender; the message says what is wrong with the part after `@`. */
export class ContenderSpecError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ContenderSpecError'
  }
}

const FORMS = '@EXIT (a layer count), @exact or @auto:TAU'

/** Parses `text`; `isFolder(text)` true means the whole text is the model folder, `@` and all. */
export function parseContenderSpec(text: string, isFolder: (path: string) => boolean = () => false): ContenderSpec {
  const at = text.lastIndexOf('@')
  if (at < 0 || isFolder(text)) return { modelPath: text }
  const modelPath = text.slice(0, at)
  const suffix = text.slice(at + 1)
  if (/[/\\]/.test(suffix)) return { modelPath: text }
  if (modelPath === '') throw new ContenderSpecError(`no model folder before "@${suffix}"`)
  if (/^\d+$/.test(suffix)) {
    const exit = Number(suffix)
    if (exit < 1) throw new ContenderSpecError('the exit must be ≥ 1')
    return { modelPath, exit }
  }
  if (suffix === 'exact') return { modelPath, mode: { kind: 'exact' } }
  if (suffix.startsWith('exact:')) throw new ContenderSpecError(`@exact takes no value (got "${suffix}"): Exact drafts at the model's default draft exit`)
  if (suffix === 'auto') throw new ContenderSpecError('@auto needs a threshold: @auto:TAU with TAU in 0..1')
  if (suffix.startsWith('auto:')) {
    const tauText = suffix.slice('auto:'.length)
    const tau = Number(tauText)
    if (!/^(\d+(\.\d*)?|\.\d+)$/.test(tauText) || tau > 1) throw new ContenderSpecError(`@auto:TAU needs TAU in 0..1 (got "${tauText}")`)
    return { modelPath, mode: { kind: 'auto', tau } }
  }
  throw new ContenderSpecError(`"@${suffix}" is not a contender form: give ${FORMS}`)
}
