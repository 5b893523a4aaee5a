/**
 * The model library as the backend reports it, kept fresh by
 * `models.changed`; imports show their progress from `models.importProgress`.
 * Also any model folder read so far (in the library or not), for the pickers
 * that offer folders to compare.
 */
import { defineStore } from 'pinia'
import { onScopeDispose, ref, toRef } from 'vue'
import type { DraftCalibration, ModelFolderShape, ModelSummary, WeightPrecision } from '../../../src-main/api/contract'
import { errorMessage } from '../api/error-message'
import { useApi } from '../api/use-api'
import { attempt } from './attempt'

export interface ImportState {
  path: string
  progress: number
  message: string
  error: string | null
  running: boolean
}

/** A model's "Calibrate Exact": its progress, then the exit chosen (or why it failed). */
export interface CalibrationState {
  progress: number
  message: string
  error: string | null
  running: boolean
  calibration: DraftCalibration | null
}

/** A folder's shape, or why it could not be read (each picker shows its own folder's reason). */
export type FolderReading = { model: ModelFolderShape; error: null } | { model: null; error: string }

export const useModelsStore = defineStore('models', () => {
  const api = useApi()
  const models = ref<ModelSummary[]>([])
  const loadError = ref<string | null>(null)
  /** Why the last removal or export failed. */
  const actionError = ref<string | null>(null)
  const importing = ref<ImportState | null>(null)
  /** Per model id, its latest calibration in this window. */
  const calibrations = ref<Record<string, CalibrationState>>({})
  /** Folders read with readFolder, newest last. */
  const folders = ref<ModelFolderShape[]>([])
  /** Reads in flight by path, so two pickers asking for one folder share one read. */
  const reading = new Map<string, Promise<FolderReading>>()

  async function load(): Promise<void> {
    await attempt(loadError, async () => (models.value = (await api.call('models.list', {})).models))
  }

  onScopeDispose(api.on('models.changed', () => void load()))
  onScopeDispose(
    api.on('models.importProgress', (p) => {
      if (importing.value?.running && importing.value.path === p.path) Object.assign(importing.value, { progress: p.progress, message: p.message })
    }),
  )

  onScopeDispose(
    api.on('models.calibrationProgress', (p) => {
      const state = calibrations.value[p.modelId]
      if (state?.running) Object.assign(state, { progress: p.progress, message: p.message })
    }),
  )

  /**
   * Measures Exact mode at every draft exit of the model and stores the fastest in its sorted.json;
   * resolves to the calibration, or null with the model's calibration state saying why not.
   */
  async function calibrate(modelId: string): Promise<DraftCalibration | null> {
    calibrations.value[modelId] = { progress: 0, message: 'Starting', error: null, running: true, calibration: null }
    const state = calibrations.value[modelId]!
    let calibration: DraftCalibration | null = null
    await attempt(toRef(state, 'error'), async () => (calibration = (await api.call('models.calibrate', { modelId })).calibration))
    Object.assign(state, { running: false, calibration, ...(calibration ? { progress: 1 } : {}) })
    return calibration
  }

  /** Resolves to the new model (kept in `precision`, default fp32), or null with `importing.error` set. */
  async function importFolder(path: string, precision: WeightPrecision = 'fp32'): Promise<ModelSummary | null> {
    importing.value = { path, progress: 0, message: 'Starting', error: null, running: true }
    try {
      const { model } = await api.call('models.import', { path, ...(precision === 'fp32' ? {} : { precision }) })
      importing.value = { ...importing.value, progress: 1, message: `Imported ${model.name}`, running: false }
      await load()
      return model
    } catch (error) {
      importing.value = { ...importing.value, error: errorMessage(error), running: false }
      return null
    }
  }

  /**
   * Adds a PEFT adapter folder under a library model (checked by loading base + adapter); resolves to the new
   * entry, or null with `importing.error` saying why (the file and field that do not fit).
   */
  async function importAdapter(path: string, baseModelId: string): Promise<ModelSummary | null> {
    importing.value = { path, progress: 0, message: 'Starting', error: null, running: true }
    try {
      const { model } = await api.call('models.importAdapter', { path, baseModelId })
      importing.value = { ...importing.value, progress: 1, message: `Imported ${model.name}`, running: false }
      await load()
      return model
    } catch (error) {
      importing.value = { ...importing.value, error: errorMessage(error), running: false }
      return null
    }
  }

  /** Per adapter id, its latest "Merge and export" in this window (progress from models.importProgress for its folder). */
  const merges = ref<Record<string, ImportState>>({})
  onScopeDispose(
    api.on('models.importProgress', (p) => {
      for (const state of Object.values(merges.value)) if (state.running && state.path === p.path) Object.assign(state, { progress: p.progress, message: p.message })
    }),
  )

  /**
   * Merges the adapter (at `rank`, a DyLoRA adapter's nested rank; default its r) into its base as a new folder `to`
   * and adds it to the library; resolves to the merged model, or null with the merge's error.
   */
  async function mergeAdapter(modelId: string, to: string, rank?: number): Promise<ModelSummary | null> {
    merges.value[modelId] = { path: to, progress: 0, message: 'Starting', error: null, running: true }
    const state = merges.value[modelId]!
    let merged: ModelSummary | null = null
    await attempt(toRef(state, 'error'), async () => (merged = (await api.call('models.mergeAdapter', { modelId, to, ...(rank !== undefined ? { rank } : {}) })).model))
    Object.assign(state, { running: false, ...(merged ? { progress: 1, message: `Merged into ${(merged as ModelSummary).name}` } : {}) })
    if (merged) await load()
    return merged
  }

  /** Removes the model from the library (its files stay); resolves to whether it did, with actionError saying why not. */
  async function remove(modelId: string): Promise<boolean> {
    return attempt(actionError, async () => {
      await api.call('models.remove', { modelId })
      await load()
    })
  }

  /** Chooses the precision the app loads the model in; resolves to whether it did, with actionError saying why not. */
  async function setPrecision(modelId: string, precision: WeightPrecision): Promise<boolean> {
    return attempt(actionError, async () => {
      const { model } = await api.call('models.setPrecision', { modelId, precision })
      const index = models.value.findIndex((m) => m.id === model.id)
      if (index >= 0) models.value[index] = model
    })
  }

  /** Copies the model's folder to `to`; resolves to the new folder, or null with actionError saying why not. */
  async function exportTo(modelId: string, to: string): Promise<string | null> {
    let path: string | null = null
    await attempt(actionError, async () => (path = (await api.call('models.export', { modelId, to })).path))
    return path
  }

  /** A folder's layers and exits (config and sorted.json only, no weights), or the backend's reason it is not a model. */
  function readFolder(path: string): Promise<FolderReading> {
    let pending = reading.get(path)
    if (!pending) {
      pending = api.call('models.inspect', { path }).then(
        (model): FolderReading => {
          if (!folders.value.some((f) => f.path === model.path)) folders.value.push(model)
          return { model, error: null }
        },
        (error): FolderReading => ({ model: null, error: errorMessage(error) }),
      )
      reading.set(path, pending)
      void pending.finally(() => reading.delete(path))
    }
    return pending
  }

  const byId = (id: string | null | undefined) => models.value.find((m) => m.id === id)

  /** The adapters listed under a model. */
  const adaptersOf = (baseId: string) => models.value.filter((m) => m.adapter?.baseModelId === baseId)

  return {
    models, loadError, actionError, importing, calibrations, merges, folders,
    load, importFolder, importAdapter, mergeAdapter, calibrate, setPrecision, remove, exportTo, readFolder, byId, adaptersOf,
  }
})
