/**
 * The model library as the backend reports it, kept fresh by
 * `models.changed`; imports show their progress from `models.importProgress`.
 */
import { defineStore } from 'pinia'
import { onScopeDispose, ref } from 'vue'
import type { ModelSummary } from '../../../src-main/api/contract'
import { errorMessage } from '../api/error-message'
import { useApi } from '../api/use-api'

export interface ImportState {
  path: string
  progress: number
  message: string
  error: string | null
  running: boolean
}

export const useModelsStore = defineStore('models', () => {
  const api = useApi()
  const models = ref<ModelSummary[]>([])
  const loadError = ref<string | null>(null)
  const importing = ref<ImportState | null>(null)

  async function load(): Promise<void> {
    try {
      models.value = (await api.call('models.list', {})).models
      loadError.value = null
    } catch (error) {
      loadError.value = errorMessage(error)
    }
  }

  onScopeDispose(api.on('models.changed', () => void load()))
  onScopeDispose(
    api.on('models.importProgress', (p) => {
      if (importing.value?.running && importing.value.path === p.path) Object.assign(importing.value, { progress: p.progress, message: p.message })
    }),
  )

  /** Resolves to the new model, or null with `importing.error` set. */
  async function importFolder(path: string): Promise<ModelSummary | null> {
    importing.value = { path, progress: 0, message: 'Starting', error: null, running: true }
    try {
      const { model } = await api.call('models.import', { path })
      importing.value = { ...importing.value, progress: 1, message: `Imported ${model.name}`, running: false }
      await load()
      return model
    } catch (error) {
      importing.value = { ...importing.value, error: errorMessage(error), running: false }
      return null
    }
  }

  async function remove(modelId: string): Promise<void> {
    await api.call('models.remove', { modelId })
    await load()
  }

  async function exportTo(modelId: string, to: string): Promise<string> {
    return (await api.call('models.export', { modelId, to })).path
  }

  const byId = (id: string | null | undefined) => models.value.find((m) => m.id === id)

  return { models, loadError, importing, load, importFolder, remove, exportTo, byId }
})
