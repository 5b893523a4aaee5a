/**
 * Which library entry the engine runs: a model runs as its own folder; an
 * adapter runs as its base model's folder with the adapter merged in.
 */
import type { LoadedModelInfo, ModelSummary } from '../../../src-main/api/contract'

/** The folder to load for a library entry, and the adapter folder to merge in (adapters only). */
export function loadTargetOf(model: Pick<ModelSummary, 'path' | 'adapter'>): { path: string; adapterPath: string | undefined } {
  return model.adapter ? { path: model.adapter.basePath, adapterPath: model.path } : { path: model.path, adapterPath: undefined }
}

/** The rank a chat runs a DyLoRA adapter at: its chosen rank when it fits the adapter, else the adapter's r; undefined for a model that is no adapter. */
export function adapterRankOf(model: Pick<ModelSummary, 'adapter'> | undefined, chosen: number | undefined): number | undefined {
  if (!model?.adapter) return undefined
  return chosen !== undefined && chosen <= model.adapter.rank ? chosen : model.adapter.rank
}

/**
 * The ranks offered for a DyLoRA adapter: those its run measured (sorted.json's
 * results_by_rank), else 1..r, with r and the chat's current rank always among
 * them; none for LoRA.
 */
export function adapterRanks(model: Pick<ModelSummary, 'adapter'> | undefined, current?: number): number[] {
  const adapter = model?.adapter
  if (adapter?.kind !== 'dylora') return []
  const measured = Object.keys(adapter.resultsByRank ?? {})
    .map(Number)
    .filter((rank) => Number.isInteger(rank) && rank >= 1 && rank <= adapter.rank)
  const ranks = measured.length ? measured : Array.from({ length: adapter.rank }, (_, i) => i + 1)
  // r itself is always offered (it is what the chat runs without a choice).
  const always = current !== undefined && current <= adapter.rank ? [adapter.rank, current] : [adapter.rank]
  return [...new Set([...ranks, ...always])].sort((x, y) => x - y)
}

/** Whether the loaded model is this library entry: the same folder, with (only) its adapter. */
export function engineRuns(loaded: Pick<LoadedModelInfo, 'path' | 'adapter'> | undefined, model: Pick<ModelSummary, 'path' | 'adapter'> | undefined): boolean {
  if (!loaded || !model) return false
  const target = loadTargetOf(model)
  return loaded.path === target.path && loaded.adapter?.path === target.adapterPath
}
