/**
 * Evaluation sets through the contract: list, import a file, delete; and the
 * compare view's own set, where each ad-hoc prompt becomes an item so its
 * two answers can be stored as generations and voted on like a batch's.
 */
import type { EvalSetSummary } from '../../api/contract'
import { ApiError } from '../../api/errors'
import { DatasetError } from '../../engine/data/errors'
import type { EvalItem, Store } from '../../store'
import { Evaluations } from './store-records'

/** The compare view's prompts: one set per app, found by its format. */
export const COMPARE_SET = { name: 'Compare view', format: 'compare' } as const

function summary(store: Store, setId: string): EvalSetSummary {
  const found = store.evals.setSummaries().find((s) => s.id === setId)
  if (!found) throw new ApiError('not_found', `No evaluation set ${setId}.`)
  return found
}

export function listSets(store: Store): EvalSetSummary[] {
  return store.evals.setSummaries()
}

/**
 * Imports the file, or returns the set imported from it before. A file with
 * problems imports nothing; the error lists each problem with its file,
 * line (or array index) and field.
 */
export function importSetFile(store: Store, path: string, name?: string): EvalSetSummary {
  try {
    const { setId } = new Evaluations(store).importSet(path, name)
    return summary(store, setId)
  } catch (error) {
    if (error instanceof DatasetError) throw new ApiError('invalid_params', error.message)
    throw error
  }
}

export function removeSet(store: Store, setId: string, inUse: (setId: string) => boolean): void {
  if (inUse(setId)) throw new ApiError('conflict', 'An evaluation is running on this set: cancel it first.')
  if (!store.evals.removeSet(setId)) throw new ApiError('not_found', `No evaluation set ${setId}.`)
}

/**
 * A new item of the compare set for this prompt (the set is made on first
 * use). Each compare run gets its own item, so a vote is always on exactly
 * the answers the person saw, even where a rerun would answer differently.
 */
export function appendCompareItem(store: Store, prompt: string): EvalItem {
  return store.transaction(() => {
    const set =
      store.evals.sets().find((s) => s.format === COMPARE_SET.format) ?? store.evals.importSet(COMPARE_SET.name, COMPARE_SET.format, [])
    return store.evals.appendItem(set.id, { instruction: prompt })
  })
}
