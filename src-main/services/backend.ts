/**
 * The composition root behind both transports: opens the data folder and its
 * database, builds the services, and binds each contract method to them.
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { AppInfo } from '../api/contract'
import { createDispatch, type Dispatch, type Handlers } from '../api/dispatch'
import { listProviders } from '../engine/onnx/providers'
import { openStore, type Store } from '../store'
import { EngineService, type EngineWorkerSpec } from './engine'
import { EventBus, type EventListener } from './events'
import { databasePath, resolveDataDir } from './paths'
import { SettingsService } from './settings'
import { TrainingService } from './training'
import { EvaluationService } from './evaluations-service'
import { DatasetService } from './datasets'
import { inspectModel } from './model-inspect'
import { estimateTune } from './run-estimate'
import packageJson from '../../package.json'

export interface BackendOptions {
  transport: AppInfo['transport']
  /** Overrides SORTED_STUDIO_HOME and the OS default. */
  dataDir?: string
  /** better-sqlite3 addon built for Electron's ABI (see scripts/electron-native.mjs). */
  sqliteBinding?: string
  log?: (message: string, error?: unknown) => void
  /** The engine worker to spawn (lazily, on the first engine.load); without it engine methods report unavailability. */
  engineWorker?: EngineWorkerSpec
  /** The training worker (one per running job). */
  trainingWorker?: EngineWorkerSpec
  /** The evaluation worker (one per running evaluation). */
  evaluationWorker?: EngineWorkerSpec
  /** The dataset worker (one per dataset preview). */
  datasetWorker?: EngineWorkerSpec
}

export interface Backend {
  readonly dataDir: string
  readonly dispatch: Dispatch
  subscribe(listener: EventListener): () => void
  close(): Promise<void>
}

export function openBackend(options: BackendOptions): Backend {
  const log = options.log ?? ((message: string, error?: unknown) => console.error(message, error ?? ''))
  const dataDir = resolveDataDir(options.dataDir)
  mkdirSync(dataDir, { recursive: true })
  const store: Store = openStore(databasePath(dataDir), options.sqliteBinding ? { nativeBinding: options.sqliteBinding } : {})
  const bus = new EventBus()
  const settings = new SettingsService(store.settings, bus, (message) => log(message))
  const engine = new EngineService(options.engineWorker, bus, {
    cacheDir: join(dataDir, 'cache', 'graphs'),
    provider: () => settings.get().executionProvider,
    log: (message) => log(message),
  })

  const training = new TrainingService(store, bus, options.trainingWorker, {
    provider: () => settings.get().executionProvider,
    log: (message) => log(message),
  })

  const evaluations = new EvaluationService(options.evaluationWorker, bus, { path: store.path, nativeBinding: options.sqliteBinding })

  const datasets = new DatasetService(options.datasetWorker, dataDir)

  const handlers: Handlers = {
    'app.info': () => ({
      name: 'Sorted Studio',
      version: packageJson.version,
      transport: options.transport,
      platform: `${process.platform}-${process.arch}`,
      dataDir,
      databasePath: store.path,
      schemaVersion: store.schemaVersion,
      providers: listProviders(),
    }),
    'settings.get': () => settings.get(),
    'settings.update': (patch) => settings.update(patch),
    'engine.load': ({ path }) => engine.load(path),
    'engine.unload': () => engine.unload(),
    'engine.status': () => engine.status(),
    'engine.generate': (request) => engine.generate(request),
    'engine.setExit': ({ generationId, exit }) => {
      engine.setExit(generationId, exit)
      return {}
    },
    'engine.cancel': ({ generationId }) => {
      engine.cancel(generationId)
      return {}
    },
    'runs.start': (request) => training.start(request),
    'runs.cancel': ({ runId }) => {
      training.cancel(runId)
      return {}
    },
    'runs.resume': ({ runId }) => {
      training.resume(runId)
      return {}
    },
    'runs.list': () => ({ runs: training.list() }),
    'runs.get': ({ runId }) => training.get(runId),
    'evaluations.start': (request) => evaluations.start(request),
    'runs.estimate': (request) => estimateTune(request, datasets),
    'runs.remove': ({ runId, deleteOutput }) => training.remove(runId, deleteOutput),
    'models.inspect': ({ path }) => inspectModel(path),
    'datasets.preview': (request) => datasets.preview(request),
    'datasets.upload': ({ name, content }) => datasets.upload(name, content),
  }

  return {
    dataDir,
    dispatch: createDispatch(handlers, log),
    subscribe: (listener) => bus.subscribe(listener),
    close: async () => {
      await evaluations.close()
      await datasets.close()
      await training.close()
      await engine.close()
      store.close()
    },
  }
}
