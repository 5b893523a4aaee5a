/**
 * Where the contender pickers learn which models exist and what exits each
 * offers: the library's models and any folder read so far as suggestions,
 * and a folder's exits read through the models store (config and sorted.json
 * only, no weights), so any model folder can be compared, in the library or not.
 */
import { computed, type ComputedRef } from 'vue'
import type { ModelFolderShape, ModelSummary } from '../../../src-main/api/contract'
import { useModelsStore } from '../stores/models'

export interface ModelChoice {
  path: string
  name: string
  numLayers: number
  exits: number[]
}

export interface ModelCatalog {
  /** Models to offer in the picker's suggestions. */
  suggestions: ComputedRef<ModelChoice[]>
  /** A folder's layers and exits, or the backend's explanation of what is wrong with it. */
  describe(path: string): Promise<{ model: ModelChoice; error: null } | { model: null; error: string }>
}

/** A library model runs at any layer unless it was tuned for a few exits. */
const fromLibrary = (m: ModelSummary): ModelChoice => ({
  path: m.path,
  name: m.name,
  numLayers: m.numLayers,
  exits: m.exits.length ? m.exits : Array.from({ length: m.numLayers }, (_, i) => i + 1),
})
const fromFolder = (m: ModelFolderShape): ModelChoice => ({ path: m.path, name: m.name, numLayers: m.numLayers, exits: m.exits })

export function useModelCatalog(): ModelCatalog {
  const library = useModelsStore()
  void library.load()
  return {
    // The library's models, then folders read that are not in it.
    suggestions: computed(() => {
      // An adapter is no model folder of its own (compare its merged model instead).
      const known = library.models.filter((m) => !m.adapter).map(fromLibrary)
      return [...known, ...library.folders.filter((f) => !known.some((m) => m.path === f.path)).map(fromFolder)]
    }),
    async describe(path) {
      const read = await library.readFolder(path)
      return read.model ? { model: fromFolder(read.model), error: null } : read
    },
  }
}
