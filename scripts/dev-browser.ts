/**
 * `npm run dev` where Electron cannot run: the real backend and server, with
 * the renderer served by Vite's dev server (hot reload) behind the same
 * token gate. Run through tsx, so the main-process sources need no build.
 */
import { join } from 'node:path'
import { createServer } from 'vite'
import vue from '@vitejs/plugin-vue'
import { devRendererPolicy } from '../src-main/server/csp'
import { startServer } from '../src-main/server/server'
import { openBackend } from '../src-main/services/backend'

const root = new URL('..', import.meta.url).pathname
const vite = await createServer({
  configFile: false,
  root: join(root, 'src-renderer'),
  plugins: [
    vue(),
    {
      name: 'sorted-studio-dev-csp',
      transformIndexHtml: () => [{ tag: 'meta', attrs: { 'http-equiv': 'Content-Security-Policy', content: devRendererPolicy }, injectTo: 'head-prepend' }],
    },
  ],
  server: { middlewareMode: true },
  appType: 'spa',
})
const dataDirArg = process.argv.indexOf('--data-dir')
const backend = openBackend({
  transport: 'browser',
  // The worker runs from source too, through tsx.
  engineWorker: { path: join(root, 'scripts/tsx-worker.mjs'), workerData: { tsEntry: join(root, 'src-main/workers/engine-worker.ts') } },
  trainingWorker: { path: join(root, 'scripts/tsx-worker.mjs'), workerData: { tsEntry: join(root, 'src-main/workers/training-worker.ts') } },
  evaluationWorker: { path: join(root, 'scripts/tsx-worker.mjs'), workerData: { tsEntry: join(root, 'src-main/workers/evaluation-worker.ts') } },
  compareWorker: { path: join(root, 'scripts/tsx-worker.mjs'), workerData: { tsEntry: join(root, 'src-main/workers/compare-worker.ts') } },
  datasetWorker: { path: join(root, 'scripts/tsx-worker.mjs'), workerData: { tsEntry: join(root, 'src-main/workers/dataset-worker.ts') } },
  ...(dataDirArg > 0 ? { dataDir: process.argv[dataDirArg + 1] } : {}),
})
const server = await startServer({ backend, rendererDir: join(root, 'src-renderer'), port: 0, serveRenderer: (req, res) => vite.middlewares(req, res) })
console.log(`Sorted Studio (dev, hot reload) listening on ${server.url}`)

const stop = async () => {
  await server.close()
  await vite.close()
  await backend.close()
  process.exit(0)
}
process.once('SIGINT', () => void stop())
process.once('SIGTERM', () => void stop())
