/**
 * Where the contender pickers learn which models exist and what exits each
 * offers. Today: a model folder typed by the user, read with models.inspect
 * (config and sorted.json only, no weights), and the folders read so far as
 * suggestions. When the app has a model list, `loadSuggestions` becomes a
 * models.list call; the pickers do not change.
 */
import { ref, type Ref } from 'vue'
import type { ModelSummary } from '../../../src-main/api/contract'
import type { ApiClient } from '../api/client'
import { useApi } from '../api/use-api'

export interface ModelChoice {
  path: string
  name: string
  numLayers: number
  exits: number[]
}

export interface ModelCatalog {
  /** Models to offer in the picker's suggestions. */
  suggestions: Ref<ModelChoice[]>
  /** A folder's layers and exits; rejects with the backend's explanation of what is wrong with it. */
  describe(path: string): Promise<ModelChoice>
}

/** The models known to the app for the suggestions list. */
async function loadSuggestions(_api: ApiClient, seen: ModelChoice[]): Promise<ModelChoice[]> {
  return seen
}

const seen: ModelChoice[] = []
const suggestions = ref<ModelChoice[]>([])

export function useModelCatalog(): ModelCatalog {
  const api = useApi()
  const cache = new Map<string, Promise<ModelSummary>>()
  void loadSuggestions(api, seen).then((list) => (suggestions.value = list))
  return {
    suggestions,
    async describe(path) {
      let pending = cache.get(path)
      if (!pending) {
        pending = api.call('models.inspect', { path })
        cache.set(path, pending)
        pending.catch(() => cache.delete(path))
      }
      const model = await pending
      const choice: ModelChoice = { path: model.path, name: model.name, numLayers: model.numLayers, exits: model.exits }
      if (!seen.some((m) => m.path === choice.path)) {
        seen.push(choice)
        suggestions.value = await loadSuggestions(api, seen)
      }
      return choice
    },
  }
}
