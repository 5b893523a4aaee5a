/**
 * The composition root behind both transports: opens the data folder and its
 * database, builds the services, and binds each contract method to them.
 */
import { join } from 'node:path'
import type { AppInfo } from '../api/contract'
import { createDispatch, type Dispatch, type Handlers } from '../api/dispatch'
import { ApiError } from '../api/errors'
import { ModelGraphCache } from '../engine/generate/model-graph-cache'
import { listProviders } from '../engine/onnx/providers'
import { openStore, type Store } from '../store'
import { EngineService } from './engine'
import { EventBus, type EventListener } from './events'
import { dataDirName, databasePath, resolveDataDir } from './paths'
import { ensureWritableFolder } from '../base/writable-folder'
import { explainDiskFull } from './disk-full'
import { SettingsService } from './settings'
import { TrainingService } from './training'
import { EvaluationService } from './evaluations/service'
import { CompareService } from './compare'
import { importSetFile, listSets, removeSet } from './evaluations/sets'
import { ReadyMadeSets } from './evaluations/ready-made-sets'
import { evaluationResults } from './evaluations/results'
import { listVotes, pairOutputs, recordVote } from './evaluations/human-votes'
import { ModelLibrary } from './model-library'
import { ModelCalibration } from './model-calibration'
import { ChatService } from './chat'
import { GenerationQueue } from './generation-queue'
import { LocalApiService } from './local-api'
import { LocalApiSwitch, type ApiListen } from './local-api-switch'
import { DatasetService } from './datasets'
import { inspectModel } from './model-inspect'
import { estimateTune } from './run-estimate'
import { WorkerHost, type WorkerSpec } from './worker-host'
import { JobExportService } from './job-export'
import packageJson from '../../package.json'

export interface BackendOptions {
  transport: AppInfo['transport']
  /** Overrides SORTED_STUDIO_HOME and the OS default. */
  dataDir?: string
  /** better-sqlite3 addon built for Electron's ABI (see scripts/electron-native.mjs). */
  sqliteBinding?: string
  log?: (message: string, error?: unknown) => void
  /** The engine worker to spawn (lazily, on the first engine.load); without it engine methods report unavailability. */
  engineWorker?: WorkerSpec
  /** The training worker (one per running job). */
  trainingWorker?: WorkerSpec
  /** The evaluation worker (one per running evaluation). */
  evaluationWorker?: WorkerSpec
  /** The compare view's worker (one, started on the first comparison). */
  compareWorker?: WorkerSpec
  /** The desktop app's native folder picker (Electron's dialog); absent in browser mode. */
  pickFolder?: (title: string) => Promise<string | null>
  /** Folder whose sub-folders are the models shipped with the app (resources/models). */
  bundledModelsDir?: string
  /** Folder of the evaluation sets shipped with the app (resources/eval), offered ready-made. */
  bundledEvalSetsDir?: string
  /** The dataset worker (one per dataset preview). */
  datasetWorker?: WorkerSpec
  /** The desktop app's native open-file dialog; absent in browser mode. */
  pickFile?: (title: string, extensions: string[] | undefined) => Promise<string | null>
  /** Generations that may wait behind the running one before the HTTP API answers 429 (default 16). */
  apiQueueLimit?: number
  /** Opens the OpenAI-compatible API's listener when Settings turns it on (the server layer's startApiServer, or browser mode's own server). */
  localApiListen?: ApiListen
  /** Folder of the PyTorch job template (resources/jobs); default: this checkout's. */
  jobTemplatesDir?: string
}

export interface Backend {
  readonly dataDir: string
  readonly dispatch: Dispatch
  subscribe(listener: EventListener): () => void
  close(): Promise<void>
}

/** What openBackend builds: the transports' Backend, and what only the process that opened it wires up. */
export interface OpenedBackend extends Backend {
  /** The OpenAI-compatible API's view of the library and the engine (server/openai). */
  readonly localApi: LocalApiService
  /** Settings → "Local API server"; call start() once the transport is up. */
  readonly localApiSwitch: LocalApiSwitch
}

export function openBackend(options: BackendOptions): OpenedBackend {
  const log = options.log ?? ((message: string, error?: unknown) => console.error(message, error ?? ''))
  // Refuses a file, a read-only or pseudo file system (/proc) at once, naming how the user chose it.
  const dataDir = ensureWritableFolder(resolveDataDir(options.dataDir), dataDirName(options.dataDir))
  const store: Store = openStore(databasePath(dataDir), options.sqliteBinding ? { nativeBinding: options.sqliteBinding } : {})
  const bus = new EventBus()
  const logLine = (message: string) => log(message)
  // Every worker thread is started, heard and ended by this one host.
  const workers = new WorkerHost(
    {
      engine: options.engineWorker,
      training: options.trainingWorker,
      evaluation: options.evaluationWorker,
      compare: options.compareWorker,
      dataset: options.datasetWorker,
    },
    logLine,
  )
  const settings = new SettingsService({ store: store.settings, bus, warn: logLine })
  const provider = () => settings.get().executionProvider
  const cacheDir = join(dataDir, 'cache', 'graphs')
  const engine = new EngineService({ bus, workers, cacheDir, provider })
  const graphCache = new ModelGraphCache(cacheDir)
  const library = new ModelLibrary({ store, bus, workers, cacheDir, provider, bundledDir: options.bundledModelsDir, log: logLine })
  library.registerBundled()
  const calibration = new ModelCalibration({ store, bus, workers, cacheDir, provider })
  // Every generation and load takes its turn here: the chat, engine.* and the HTTP API.
  const queue = new GenerationQueue({ engine, bus, maxWaiting: options.apiQueueLimit ?? 16 })
  const chats = new ChatService({ store, bus, engine, queue, library })
  const localApi = new LocalApiService({ library, queue, bus })
  const localApiSwitch = new LocalApiSwitch({ store: store.settings, bus, api: localApi, dataDir, listen: options.localApiListen, warn: logLine })
  const training = new TrainingService({ store, bus, workers, provider, log: logLine })
  const evaluations = new EvaluationService({ store, bus, workers })
  const compare = new CompareService({ store, bus, workers, cacheDir, provider, log: logLine })
  const datasets = new DatasetService({ workers, dataDir })
  const readyMade = new ReadyMadeSets(options.bundledEvalSetsDir)
  const jobs = new JobExportService({ store, workers, templatesDir: options.jobTemplatesDir })

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
    'app.graphCache': () => graphCache.usage(),
    'app.clearGraphCache': () => {
      const cleared = graphCache.clear()
      logLine(`Cleared the compiled-graph cache: ${cleared.removed} removed, ${cleared.kept} in use kept`)
      return { ...cleared, usage: graphCache.usage() }
    },
    'app.pickFolder': async ({ title }) => {
      if (!options.pickFolder) throw new ApiError('conflict', 'There is no folder picker in browser mode: type the folder path.')
      return { path: await options.pickFolder(title ?? 'Choose a folder') }
    },
    'settings.get': () => settings.get(),
    'settings.update': (patch) => settings.update(patch),
    'engine.load': ({ path, weights, adapter }) => queue.load(path, weights, adapter),
    'engine.unload': () => queue.unload(),
    'engine.status': () => engine.status(),
    'engine.generate': (request) => queue.submit(request),
    'engine.setExit': ({ generationId, exit }) => {
      queue.setExit(generationId, exit)
      return {}
    },
    'engine.cancel': ({ generationId }) => {
      queue.cancel(generationId)
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
    'evaluations.cancel': ({ evaluationId }) => {
      evaluations.cancel(evaluationId)
      return {}
    },
    'evaluations.running': () => ({ evaluations: evaluations.list() }),
    'evaluations.sets': () => ({ sets: listSets(store) }),
    'evaluations.importSet': ({ path }) => ({ set: importSetFile(store, path) }),
    'evaluations.readyMadeSets': () => ({ sets: readyMade.list() }),
    'evaluations.importReadyMadeSet': ({ id }) => ({ set: readyMade.import(store, id) }),
    'evaluations.removeSet': ({ setId }) => {
      removeSet(store, setId, (id) => evaluations.isRunningOn(id))
      return {}
    },
    'evaluations.results': ({ setId, judge }) => evaluationResults(store, setId, judge),
    'evaluations.vote': (request) => ({ vote: recordVote(store, request) }),
    'evaluations.votes': ({ setId, limit }) => ({ votes: listVotes(store, { setId, limit }) }),
    'evaluations.pairOutputs': (request) => ({ items: pairOutputs(store, request) }),
    'compare.generate': (request) => compare.generate(request),
    'compare.cancel': ({ compareId }) => {
      compare.cancel(compareId)
      return {}
    },
    'models.inspect': ({ path }) => inspectModel(path),
    'models.list': () => ({ models: library.list() }),
    'models.import': async ({ path, precision }) => ({ model: await library.import(path, precision) }),
    'models.setPrecision': ({ modelId, precision }) => ({ model: library.setPrecision(modelId, precision) }),
    'models.remove': ({ modelId }) => {
      library.remove(modelId)
      return {}
    },
    'models.export': ({ modelId, to }) => library.export(modelId, to),
    'models.importAdapter': async ({ path, baseModelId }) => ({ model: await library.importAdapter(path, baseModelId) }),
    'models.mergeAdapter': async ({ modelId, to, rank }) => ({ model: await library.mergeAdapter(modelId, to, rank) }),
    'models.calibrate': ({ modelId }) => calibration.calibrate(modelId),
    'chats.list': ({ search }) => ({ chats: chats.list(search) }),
    'chats.create': (request) => ({ chat: chats.create(request) }),
    'chats.get': ({ chatId }) => chats.get(chatId),
    'chats.rename': ({ chatId, title }) => ({ chat: chats.rename(chatId, title) }),
    'chats.configure': ({ chatId, ...change }) => ({ chat: chats.configure(chatId, change) }),
    'chats.remove': ({ chatId }) => {
      chats.remove(chatId)
      return {}
    },
    'chats.send': ({ chatId, content }) => chats.send(chatId, content),
    'chats.regenerate': ({ chatId, messageId, exit }) => chats.regenerate(chatId, messageId, exit),
    'runs.estimate': (request) => estimateTune(request, datasets),
    'runs.remove': ({ runId, deleteOutput }) => training.remove(runId, deleteOutput),
    'runs.exportJob': (request) => jobs.export(request),
    'datasets.preview': (request) => datasets.preview(request),
    'datasets.upload': ({ name, content }) => datasets.upload(name, content),
    'localApi.get': () => localApiSwitch.state(),
    'localApi.configure': (change) => localApiSwitch.configure(change),
    'localApi.regenerateKey': () => localApiSwitch.regenerateKey(),
    'app.pickFile': async ({ title, extensions }) => {
      if (!options.pickFile) throw new ApiError('conflict', 'There is no file picker in browser mode: type the path, or upload the file.')
      return { path: await options.pickFile(title ?? 'Choose a file', extensions) }
    },
  }

  return {
    dataDir,
    dispatch: createDispatch(handlers, log, explainDiskFull),
    localApi,
    localApiSwitch,
    subscribe: (listener) => bus.subscribe(listener),
    close: async () => {
      await localApiSwitch.close()
      await evaluations.close()
      await compare.close()
      await datasets.close()
      // Pauses the runs it interrupts, so it needs the store open.
      await training.close()
      queue.close()
      await engine.close()
      // Anything the services did not end (an import in progress).
      await workers.close()
      store.close()
    },
  }
}
