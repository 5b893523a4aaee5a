/**
 * The Electron shell: one window on the built renderer, the contract over IPC.
 * All work happens in the backend (services, workers); this file only wires.
 */
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { app, BrowserWindow, dialog } from 'electron'
import { openBackend, type OpenedBackend } from '../services/backend'
import { startApiServer } from '../server/openai/listener'
import { registerIpc } from './ipc'
// electron-vite bundles the worker as its own file and gives its path.
import engineWorkerPath from '../workers/engine-worker?modulePath'
import trainingWorkerPath from '../workers/training-worker?modulePath'
import evaluationWorkerPath from '../workers/evaluation-worker?modulePath'
import compareWorkerPath from '../workers/compare-worker?modulePath'
import datasetWorkerPath from '../workers/dataset-worker?modulePath'
import { installSecurityPolicy } from './security'

const here = fileURLToPath(new URL('.', import.meta.url))
const rendererIndex = join(here, '../renderer/index.html')
/** Set by `electron-vite dev` for hot reload. */
const devServerUrl = process.env.ELECTRON_RENDERER_URL

function isOwnFrame(url: string): boolean {
  if (devServerUrl && url.startsWith(devServerUrl)) return true
  return url.split('#')[0] === pathToFileURL(rendererIndex).href
}

function createWindow(): BrowserWindow {
  const window = new BrowserWindow({
    width: 1280,
    height: 820,
    minWidth: 900,
    minHeight: 600,
    title: 'Sorted Studio',
    show: false,
    webPreferences: {
      preload: join(here, '../preload/preload.cjs'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
    },
  })
  window.once('ready-to-show', () => window.show())
  if (devServerUrl) void window.loadURL(devServerUrl)
  else void window.loadFile(rendererIndex)
  return window
}

let backend: OpenedBackend | undefined

app.whenReady().then(
  () => {
    installSecurityPolicy()
    try {
      backend = openBackend({
        // Same folder as the CLI: $SORTED_STUDIO_HOME, else the OS user-data folder.
        transport: 'electron',
        engineWorker: { path: engineWorkerPath },
        trainingWorker: { path: trainingWorkerPath },
        evaluationWorker: { path: evaluationWorkerPath },
        compareWorker: { path: compareWorkerPath },
        datasetWorker: { path: datasetWorkerPath },
        pickFolder: async (title) => {
          const window = BrowserWindow.getFocusedWindow()
          const options = { title, properties: ['openDirectory' as const] }
          const result = window ? await dialog.showOpenDialog(window, options) : await dialog.showOpenDialog(options)
          return result.canceled ? null : (result.filePaths[0] ?? null)
        },
        pickFile: async (title, extensions) => {
          const window = BrowserWindow.getFocusedWindow()
          const filters = extensions ? [{ name: extensions.join(', '), extensions }] : []
          const options = { title, properties: ['openFile' as const], filters }
          const result = window ? await dialog.showOpenDialog(window, options) : await dialog.showOpenDialog(options)
          return result.canceled ? null : (result.filePaths[0] ?? null)
        },
        // Packaged builds carry resources/models and resources/eval as extra resources; a checkout has them two folders up from out/main.
        bundledModelsDir: process.env.SORTED_STUDIO_BUNDLED_MODELS ?? (app.isPackaged ? join(process.resourcesPath, 'models') : join(here, '../../resources/models')),
        bundledEvalSetsDir: app.isPackaged ? join(process.resourcesPath, 'eval') : join(here, '../../resources/eval'),
        jobTemplatesDir: app.isPackaged ? join(process.resourcesPath, 'jobs') : join(here, '../../resources/jobs'),
        ...(process.env.SORTED_SQLITE_BINDING ? { sqliteBinding: process.env.SORTED_SQLITE_BINDING } : {}),
        // Settings → "Local API server": a /v1-only listener on 127.0.0.1 at the chosen port.
        localApiListen: (api, { port, key }) => startApiServer({ api, port, key }),
      })
    } catch (error) {
      dialog.showErrorBox('Sorted Studio cannot open its data folder', error instanceof Error ? error.message : String(error))
      app.exit(1)
      return
    }
    registerIpc(backend, isOwnFrame)
    createWindow()
    // Turned on in Settings earlier: listen again (a failure shows in Settings, not as a crash).
    void backend.localApiSwitch.start()
    app.on('activate', () => {
      if (BrowserWindow.getAllWindows().length === 0) createWindow()
    })
  },
  (error: unknown) => {
    console.error(error)
    app.exit(1)
  },
)

app.on('window-all-closed', () => {
  if (process.platform !== 'darwin') app.quit()
})

app.on('will-quit', () => void backend?.close())
