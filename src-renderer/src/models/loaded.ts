/**
 * Which library entry the engine runs: a model runs as its own folder; an
 * adapter runs as its base model's folder with the adapter merged in.
 */
import type { LoadedModelInfo, ModelSummary } from '../../../src-main/api/contract'

/** The folder to load for a library entry, and the adapter folder to merge in (adapters only). */
export function loadTargetOf(model: Pick<ModelSummary, 'path' | 'adapter'>): { path: string; adapterPath: string | undefined } {
  return model.adapter ? { path: model.adapter.basePath, adapterPath: model.path } : { path: model.path, adapterPath: undefined }
}

/** Whether the loaded model is this library entry: the same folder, with (only) its adapter. */
export function engineRuns(loaded: Pick<LoadedModelInfo, 'path' | 'adapter'> | undefined, model: Pick<ModelSummary, 'path' | 'adapter'> | undefined): boolean {
  if (!loaded || !model) return false
  const target = loadTargetOf(model)
  return loaded.path === target.path && loaded.adapter?.path === target.adapterPath
}
