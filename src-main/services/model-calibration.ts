/**
 * "Calibrate Exact" for a model of the library: its draft exits measured in
 * an engine worker of its own (loading and measuring take seconds to
 * minutes, and must not wait behind the chat's generations nor slow them),
 * and the fastest written as `draft_exit` into its sorted.json, which every
 * later load (chat, comparisons, the CLI) drafts with.
 *
 * Bundled models are refused: their folder ships with the app (and may be
 * read-only); a copy exported and imported can be calibrated.
 */
import type { DraftCalibration, ExecutionProviderPreference, LoadedWeights } from '../api/contract'
import { ApiError } from '../api/errors'
import { ensureWritableFolder, UnusableFolderError } from '../base/writable-folder'
import { draftCalibrationRecord, writeDraftCalibration } from '../engine/generate/draft-calibration-record'
import { ModelImportError } from '../engine/model/import'
import { readSortedFile, SortedFileWriteError } from '../engine/model/sorted-file'
import type { Store } from '../store'
import { FromWorker, type ToWorker } from '../workers/engine-protocol'
import type { EventBus } from './events'
import type { Workers } from './worker-host'

export interface ModelCalibrationDeps {
  store: Store
  bus: EventBus
  workers: Workers<'engine'>
  cacheDir: string
  provider: () => ExecutionProviderPreference
}

type Measured = { calibration: DraftCalibration; weights: LoadedWeights } | { error: string }

/** Loading is the first tenth of the progress bar; measuring the rest. */
const LOAD_SHARE = 0.1

export class ModelCalibration {
  private readonly running = new Set<string>()

  constructor(private readonly deps: ModelCalibrationDeps) {}

  async calibrate(modelId: string): Promise<{ calibration: DraftCalibration; written: string }> {
    const model = this.deps.store.models.get(modelId)
    if (!model) throw new ApiError('not_found', `No model ${modelId} in the library.`)
    if (model.source === 'bundled') {
      throw new ApiError('conflict', `"${model.name}" ships with the app, and its folder is not changed: export it, import the copy, and calibrate that.`)
    }
    if (this.running.has(modelId)) throw new ApiError('conflict', `"${model.name}" is already being calibrated.`)
    // Before minutes of measuring: sorted.json must be valid and the folder writable.
    try {
      readSortedFile(model.path, model.numLayers)
      ensureWritableFolder(model.path, `${model.name}'s folder`)
    } catch (error) {
      if (error instanceof ModelImportError || error instanceof UnusableFolderError) throw new ApiError('conflict', error.message)
      throw error
    }
    this.running.add(modelId)
    try {
      const measured = await this.measure(modelId, model.path, model.precision)
      if ('error' in measured) throw new ApiError('conflict', `${model.name} could not be calibrated: ${measured.error}`)
      let written: string
      try {
        written = writeDraftCalibration(model.path, model.numLayers, draftCalibrationRecord(measured.calibration, measured.weights, new Date()))
      } catch (error) {
        if (error instanceof SortedFileWriteError || error instanceof ModelImportError) throw new ApiError('conflict', error.message)
        throw error
      }
      this.progress(modelId, 1, `Exact drafts at exit ${measured.calibration.chosenExit}`)
      return { calibration: measured.calibration, written }
    } finally {
      this.running.delete(modelId)
    }
  }

  private progress(modelId: string, progress: number, message: string): void {
    this.deps.bus.emit('models.calibrationProgress', { modelId, progress: Math.min(1, Math.max(0, progress)), message })
  }

  /** Load, then calibrate, in an engine worker of its own; it ends with the calibration or why there is none. */
  private measure(modelId: string, path: string, precision: LoadedWeights['precision']): Promise<Measured> {
    const { workers } = this.deps
    if (!workers.available('engine')) throw new ApiError('internal', 'Calibrating models is not available in this process.')
    this.progress(modelId, 0, 'Loading the model')
    return new Promise<Measured>((resolve) => {
      const job = workers.job<ToWorker, FromWorker, Measured>('engine', {
        label: 'Calibration',
        unavailable: 'Calibrating models is not available in this process.',
        receives: FromWorker,
        start: { type: 'load', path, provider: this.deps.provider(), cacheDir: this.deps.cacheDir, ...(precision === 'fp32' ? {} : { weights: { precision } }) },
        onMessage: (message, end) => {
          if (message.type === 'status') {
            const status = message.status
            if (status.state === 'loading') this.progress(modelId, (status.progress ?? 0) * LOAD_SHARE, status.message ?? 'Loading the model')
            else if (status.state === 'ready') job.send({ type: 'calibrate' })
            else if (status.state === 'error') end({ error: status.error ?? `${path} could not be loaded.` })
          } else if (message.type === 'calibrationProgress') {
            this.progress(modelId, LOAD_SHARE + message.progress * (1 - LOAD_SHARE), message.message)
          } else if (message.type === 'calibrated') {
            end(message.calibration && message.weights ? { calibration: message.calibration, weights: message.weights } : { error: message.error ?? 'no figures came back' })
          }
        },
        onEnd: (ended) => resolve(ended.ok ? ended.result : { error: ended.error }),
      })
    })
  }
}
