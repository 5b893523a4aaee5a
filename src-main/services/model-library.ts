/**
 * The model library: the bundled models shipped in resources/models, the
 * Hugging Face folders the user imported and the models runs produced.
 *
 * Importing reads every weight and compiles the graphs, which takes seconds
 * to minutes, so it runs in its own engine worker (the same entry the chat
 * uses: a load is exactly "validate + compile"); the compiled graphs land in
 * the shared cache, so the first chat with the model starts fast.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { cp, readdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { AdapterRequest, ExecutionProviderPreference, ModelSummary, PrecisionEstimate, WeightPrecision, WeightsRequest } from '../api/contract'
import { ApiError } from '../api/errors'
import { parseConfig } from '../engine/model/config'
import { parseQuantizationConfig } from '../engine/model/quant/prequantized-config'
import { modelShape } from '../engine/train/estimate'
import type { Model, Store } from '../store'
import { FromWorker, type ToWorker } from '../workers/engine-protocol'
import type { EventBus } from './events'
import { describeModelFolder, folderSize, registerAdapterFolder } from './model-registry'
import { precisionEstimates } from './precision-estimates'
import type { Workers } from './worker-host'
import { jobOutputOf, recordJobRun } from './job-import'

/** The model a new chat opens on when the user has not chosen one. */
export const DEFAULT_BUNDLED_MODEL = 'dictionary-soft'

export function bundledModelId(folderName: string): string {
  return `bundled:${folderName}`
}

export interface ModelLibraryDeps {
  store: Store
  bus: EventBus
  /** An engine worker of its own validates and compiles each import. */
  workers: Workers<'engine'>
  cacheDir: string
  provider: () => ExecutionProviderPreference
  /** Folder whose sub-folders are the bundled models. */
  bundledDir: string | undefined
  log: (message: string) => void
}

export class ModelLibrary {
  private readonly store: Store
  private readonly bus: EventBus
  private readonly importing = new Set<string>()

  constructor(private readonly deps: ModelLibraryDeps) {
    this.store = deps.store
    this.bus = deps.bus
  }

  /** Records (or refreshes) every bundled model; a broken bundled folder is logged and skipped. */
  registerBundled(): void {
    const dir = this.deps.bundledDir
    if (!dir || !existsSync(dir)) return
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (!entry.isDirectory() || !existsSync(join(dir, entry.name, 'config.json'))) continue
      try {
        this.store.models.put({ ...describeModelFolder(join(dir, entry.name), 'bundled'), id: bundledModelId(entry.name) })
      } catch (error) {
        this.deps.log(`bundled model ${entry.name}: ${(error as Error).message}`)
      }
    }
  }

  list(): ModelSummary[] {
    const models = this.store.models.list()
    const rank = (m: Model) => (m.source === 'bundled' ? (m.id === bundledModelId(DEFAULT_BUNDLED_MODEL) ? 0 : 1) : 2)
    return models.sort((a, b) => rank(a) - rank(b)).map((m) => this.summary(m))
  }

  get(modelId: string): ModelSummary {
    const model = this.store.models.get(modelId)
    if (!model) throw new ApiError('not_found', `No model ${modelId} in the library.`)
    return this.summary(model)
  }

  /** The bundled SoFT model, else the first model in the library. */
  defaultModel(): ModelSummary | undefined {
    return this.list()[0]
  }

  private summary(model: Model): ModelSummary {
    const base = model.baseModelId ? this.store.models.get(model.baseModelId) : undefined
    return {
      id: model.id,
      name: model.name,
      path: model.path,
      source: model.source,
      architecture: model.architecture,
      numLayers: model.numLayers,
      exits: model.exits,
      results: model.results as ModelSummary['results'],
      sizeBytes: folderSize(model.path),
      precision: model.precision,
      ...estimatesOf(model.path),
      ...(model.adapter && base ? { adapter: { ...model.adapter, baseModelId: base.id, basePath: base.path } } : {}),
      createdAt: model.createdAt,
    }
  }

  /**
   * What loading a library entry takes: its folder and precision, or for an
   * adapter its base's folder with the adapter merged in, at `adapterRank`
   * when given (a DyLoRA adapter's nested rank; absent: its r).
   */
  loadTarget(model: ModelSummary, adapterRank?: number): { modelPath: string; weights: WeightsRequest; adapter?: AdapterRequest } {
    refuseAdapterRank(model, adapterRank)
    if (!model.adapter) return { modelPath: model.path, weights: { precision: model.precision } }
    return { modelPath: model.adapter.basePath, weights: { precision: model.precision }, adapter: { path: model.path, ...(adapterRank !== undefined ? { rank: adapterRank } : {}) } }
  }

  /** Loads of this model in the app use the precision the user chose for it. */
  setPrecision(modelId: string, precision: WeightPrecision): ModelSummary {
    const known = this.store.models.get(modelId)
    if (!known) throw new ApiError('not_found', `No model ${modelId} in the library.`)
    refuseOtherThanPacked(known.path, precision)
    const model = this.store.models.updatePrecision(modelId, precision)
    this.bus.emit('models.changed', {})
    return this.summary(model)
  }

  /** The precision to load the library's model at `path` in; fp32 for a folder the library does not hold. */
  weightsFor(path: string): WeightsRequest {
    const folder = resolve(path)
    return { precision: this.store.models.list().find((m) => m.path === folder)?.precision ?? 'fp32' }
  }

  /**
   * Validates and compiles a folder in a worker, then adds it. Errors name the
   * file (and tensor) at fault, and nothing is added unless the model loaded.
   */
  async import(path: string, precision: WeightPrecision = 'fp32'): Promise<ModelSummary> {
    const folder = resolve(path)
    const known = this.store.models.list().find((m) => m.path === folder)
    if (known) throw new ApiError('conflict', `${folder} is already in the library as "${known.name}".`)
    if (this.importing.has(folder)) throw new ApiError('conflict', `${folder} is already being imported.`)
    if (!existsSync(folder) || !statSync(folder).isDirectory()) throw invalidFolder(`${folder} is not a folder.`)
    // A PyTorch job's output brings its run along (history.jsonl); its record is checked before anything is added.
    const job = jobOutputOf(folder)
    // A GPTQ/AWQ folder runs in its own 4-bit packing: that is its precision whatever the default asked.
    if (packedPrecision(folder) !== undefined) precision = 'int4'
    this.importing.add(folder)
    try {
      await this.validateInWorker(folder, precision)
      const model = this.store.transaction(() => {
        const added = this.store.models.add(describeModelFolder(folder, 'imported'))
        if (job) recordJobRun(this.store, added.id, folder, job)
        return precision === 'fp32' ? added : this.store.models.updatePrecision(added.id, precision)
      })
      this.bus.emit('models.changed', {})
      return this.summary(model)
    } finally {
      this.importing.delete(folder)
    }
  }

  /**
   * Adds a PEFT adapter folder under a library model, once base + adapter
   * have loaded in a worker of its own: a shape or target module that does
   * not fit the base is refused naming the file and field, and nothing is added.
   */
  async importAdapter(path: string, baseModelId: string): Promise<ModelSummary> {
    const folder = resolve(path)
    const base = this.store.models.get(baseModelId)
    if (!base) throw new ApiError('not_found', `No model ${baseModelId} in the library.`)
    if (base.adapter) throw new ApiError('invalid_params', `baseModelId: "${base.name}" is an adapter; choose the model it was trained on.`, [{ path: 'baseModelId', message: 'an adapter is not a base model' }])
    const known = this.store.models.list().find((m) => m.path === folder)
    if (known) throw new ApiError('conflict', `${folder} is already in the library as "${known.name}".`)
    if (this.importing.has(folder)) throw new ApiError('conflict', `${folder} is already being imported.`)
    if (!existsSync(folder) || !statSync(folder).isDirectory()) throw invalidFolder(`${folder} is not a folder.`)
    this.importing.add(folder)
    try {
      await this.validateInWorker(folder, base.precision, { basePath: base.path, adapter: { path: folder } })
      const model = registerAdapterFolder(this.store, folder, base.id, 'imported')
      this.bus.emit('models.changed', {})
      return this.summary(model)
    } finally {
      this.importing.delete(folder)
    }
  }

  /**
   * Merges an adapter into its base as a new Hugging Face folder `to`, in an
   * engine worker (the code behind `sorted merge`), and adds the folder to
   * the library; progress goes out as models.importProgress for `to`.
   */
  async mergeAdapter(modelId: string, to: string, rank?: number): Promise<ModelSummary> {
    const entry = this.store.models.get(modelId)
    if (!entry) throw new ApiError('not_found', `No model ${modelId} in the library.`)
    const adapter = entry.adapter && entry.baseModelId ? this.store.models.get(entry.baseModelId) : undefined
    if (!entry.adapter || !adapter) throw new ApiError('invalid_params', `modelId: "${entry.name}" is not an adapter; only an adapter merges into its base.`, [{ path: 'modelId', message: 'not an adapter' }])
    if (rank !== undefined && rank > entry.adapter.rank) {
      const message = `rank ${rank} is above the adapter's r ${entry.adapter.rank}`
      throw new ApiError('invalid_params', `rank: ${message}`, [{ path: 'rank', message }])
    }
    const target = resolve(to)
    if (existsSync(target) && (!statSync(target).isDirectory() || (await readdir(target)).length > 0)) {
      throw new ApiError('invalid_params', `to: ${target} already exists and is not an empty folder.`, [{ path: 'to', message: 'choose an empty or new folder' }])
    }
    if (this.importing.has(target)) throw new ApiError('conflict', `${target} is already being written.`)
    this.importing.add(target)
    try {
      await this.mergeInWorker({ baseDir: adapter.path, adapterDir: entry.path, outDir: target, ...(rank !== undefined ? { rank } : {}) })
      const model = this.store.models.add(describeModelFolder(target, entry.source === 'bundled' ? 'imported' : entry.source))
      this.bus.emit('models.changed', {})
      return this.summary(model)
    } finally {
      this.importing.delete(target)
    }
  }

  private mergeInWorker(request: { baseDir: string; adapterDir: string; outDir: string; rank?: number }): Promise<void> {
    const { workers } = this.deps
    if (!workers.available('engine')) throw new ApiError('internal', 'Merging adapters is not available in this process.')
    const progress = (value: number, message: string) => this.bus.emit('models.importProgress', { path: request.outDir, progress: value, message })
    progress(0, 'Reading the base model')
    return new Promise<void>((resolvePromise, reject) => {
      workers.job<ToWorker, FromWorker, ApiError | undefined>('engine', {
        label: 'Merge',
        unavailable: 'Merging adapters is not available in this process.',
        receives: FromWorker,
        start: { type: 'merge', ...request },
        onMessage: (message, end) => {
          if (message.type === 'mergeProgress') progress(Math.min(0.99, message.progress), message.message)
          else if (message.type === 'merged') end(message.error === undefined ? undefined : new ApiError('invalid_params', message.error))
        },
        onEnd: (ended) => {
          const error = ended.ok ? ended.result : new ApiError('internal', ended.error)
          if (error) return reject(error)
          progress(1, 'Merged')
          resolvePromise()
        },
      })
    })
  }

  /** A load in an engine worker of its own is exactly "validate + compile": the import job ends when the model is ready or refused. */
  private validateInWorker(folder: string, precision: WeightPrecision, withAdapter?: { basePath: string; adapter: AdapterRequest }): Promise<void> {
    const { workers } = this.deps
    if (!workers.available('engine')) throw new ApiError('internal', 'Importing models is not available in this process.')
    const progress = (value: number, message: string) => this.bus.emit('models.importProgress', { path: folder, progress: value, message })
    progress(0, 'Checking the folder')
    return new Promise<void>((resolvePromise, reject) => {
      workers.job<ToWorker, FromWorker, ApiError | undefined>('engine', {
        label: 'Import',
        unavailable: 'Importing models is not available in this process.',
        receives: FromWorker,
        // Compiled (and quantized) in the chosen precision, so its graphs are cached for the first chat.
        start: {
          type: 'load',
          // An adapter is checked by loading its base with it merged in.
          path: withAdapter?.basePath ?? folder,
          provider: this.deps.provider(),
          cacheDir: this.deps.cacheDir,
          ...(precision === 'fp32' ? {} : { weights: { precision } }),
          ...(withAdapter ? { adapter: withAdapter.adapter } : {}),
        },
        onMessage: (message, end) => {
          if (message.type !== 'status') return
          const status = message.status
          if (status.state === 'loading') progress(Math.min(0.99, status.progress ?? 0), status.message ?? 'Loading')
          else if (status.state === 'ready') end(undefined)
          else if (status.state === 'error') end(invalidFolder(status.error ?? `${folder} could not be loaded.`))
        },
        onEnd: (ended) => {
          const error = ended.ok ? ended.result : new ApiError('internal', ended.error)
          if (error) return reject(error)
          progress(1, 'Imported')
          resolvePromise()
        },
      })
    })
  }

  remove(modelId: string): void {
    const model = this.store.models.get(modelId)
    if (!model) throw new ApiError('not_found', `No model ${modelId} in the library.`)
    if (model.source === 'bundled') throw new ApiError('conflict', `"${model.name}" ships with the app and cannot be removed.`)
    this.store.models.remove(modelId)
    this.bus.emit('models.changed', {})
  }

  /** Copies the folder; refuses a destination that exists and is not empty, so nothing is overwritten. */
  async export(modelId: string, to: string): Promise<{ path: string }> {
    const model = this.store.models.get(modelId)
    if (!model) throw new ApiError('not_found', `No model ${modelId} in the library.`)
    const target = resolve(to)
    if (existsSync(target) && (await readdir(target)).length > 0) {
      throw new ApiError('invalid_params', `${target} already exists and is not empty.`, [{ path: 'to', message: 'choose an empty or new folder' }])
    }
    await cp(model.path, target, { recursive: true, errorOnExist: true, force: false })
    return { path: target }
  }
}

/**
 * Parameters and, per precision, weight memory (computed from config.json)
 * and the decode bench's measured speed-up. Nothing when config.json cannot be
 * read: the model's page still lists it, and loading it says why.
 */
/**
 * int4 for a folder that holds GPTQ/AWQ packed weights (config.json has a
 * quantization_config), which load in that packing only; undefined for a
 * float folder, or one whose config cannot be read (the load says why).
 */
function packedPrecision(folder: string): WeightPrecision | undefined {
  try {
    const file = join(folder, 'config.json')
    return parseQuantizationConfig(JSON.parse(readFileSync(file, 'utf8')), file) ? 'int4' : undefined
  } catch {
    return undefined
  }
}

function refuseOtherThanPacked(folder: string, precision: WeightPrecision): void {
  const packed = packedPrecision(folder)
  if (packed === undefined || packed === precision) return
  const message = `${folder} holds GPTQ/AWQ 4-bit weights, which run as ${packed} only.`
  throw new ApiError('invalid_params', `precision: ${message}`, [{ path: 'precision', message }])
}

function estimatesOf(path: string): { precisions: PrecisionEstimate[]; parameters?: number } {
  let config
  try {
    const file = join(path, 'config.json')
    config = parseConfig(JSON.parse(readFileSync(file, 'utf8')), file)
  } catch {
    return { precisions: [] }
  }
  return { precisions: precisionEstimates(config), parameters: modelShape(config).parameters }
}

function invalidFolder(message: string): ApiError {
  return new ApiError('invalid_params', message, [{ path: 'path', message }])
}

/**
 * A rank to merge an adapter at fits only an adapter, and at most its r;
 * refused as invalid_params naming `field` otherwise.
 */
export function refuseAdapterRank(model: ModelSummary, rank: number | undefined, field = 'settings.adapterRank'): void {
  if (rank === undefined) return
  if (!model.adapter) throw new ApiError('invalid_params', `${field}: "${model.name}" is not an adapter; a rank only applies to a DyLoRA adapter.`, [{ path: field, message: 'not an adapter' }])
  if (rank > model.adapter.rank) {
    const message = `rank ${rank} is above the adapter's r ${model.adapter.rank}`
    throw new ApiError('invalid_params', `${field}: ${message}`, [{ path: field, message }])
  }
}
