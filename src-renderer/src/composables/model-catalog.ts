/**
 * Where the contender pickers learn which models exist and what exits each
 * offers: the library's models (models.list) and any folder typed so far as
 * suggestions, and a folder's exits read with models.inspect (config and
 * sorted.json only, no weights), so any model folder can be compared, in the
 * library or not.
 */
import { ref, type Ref } from 'vue'
import type { ModelFolderShape } from '../../../src-main/api/contract'
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

/** The models known to the app for the suggestions list: the library's, then folders typed that are not in it. */
async function loadSuggestions(api: ApiClient, seen: ModelChoice[]): Promise<ModelChoice[]> {
  const library = await api.call('models.list', {}).then(
    ({ models }) => models.map((m) => ({ path: m.path, name: m.name, numLayers: m.numLayers, exits: m.exits.length ? m.exits : Array.from({ length: m.numLayers }, (_, i) => i + 1) })),
    () => [] as ModelChoice[],
  )
  return [...library, ...seen.filter((s) => !library.some((m) => m.path === s.path))]
}

const seen: ModelChoice[] = []
const suggestions = ref<ModelChoice[]>([])

export function useModelCatalog(): ModelCatalog {
  const api = useApi()
  const cache = new Map<string, Promise<ModelFolderShape>>()
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
