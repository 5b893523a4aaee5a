import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { openBackend } from '../services/backend'
import { startServer } from '../server/server'
import { UsageError, type Command } from './commands'
// electron-vite bundles the worker as its own file and gives its path.
import engineWorkerPath from '../workers/engine-worker?modulePath'
import trainingWorkerPath from '../workers/training-worker?modulePath'
import evaluationWorkerPath from '../workers/evaluation-worker?modulePath'
import compareWorkerPath from '../workers/compare-worker?modulePath'
import datasetWorkerPath from '../workers/dataset-worker?modulePath'

/** The built renderer sits beside the built CLI: out/main/cli.js → out/renderer. */
function defaultRendererDir(): string {
  return fileURLToPath(new URL('../renderer', import.meta.url))
}

export function parsePort(text: string): number {
  const port = Number(text)
  if (!/^\d+$/.test(text) || port > 65535) throw new UsageError(`--port must be a whole number from 0 to 65535 (got "${text}").`)
  return port
}

export const serveCommand: Command = {
  name: 'serve',
  summary: 'Serve the app in your browser on 127.0.0.1 (browser mode).',
  usage: `sorted serve [--port N] [--data-dir DIR]

  --port N        port on 127.0.0.1 (default 0: pick a free one)
  --data-dir DIR  where the database and model cache live
                  (default: $SORTED_STUDIO_HOME, else the OS user-data folder)

Prints one line, "Sorted Studio listening on URL", once ready. The URL carries
a token that changes at every launch; the app's connection to the server
needs it.`,
  async run(args) {
    const { values } = parseArgs({
      args,
      options: { port: { type: 'string', default: '0' }, 'data-dir': { type: 'string' } },
      strict: true,
    })
    const port = parsePort(values.port)
    const rendererDir = defaultRendererDir()
    if (!existsSync(`${rendererDir}/index.html`)) {
      throw new UsageError(`The user interface is not built (${rendererDir} has no index.html). Run \`npm run build\`.`)
    }
    const backend = openBackend({
      transport: 'browser',
      engineWorker: { path: engineWorkerPath },
      trainingWorker: { path: trainingWorkerPath },
      evaluationWorker: { path: evaluationWorkerPath },
      compareWorker: { path: compareWorkerPath },
      bundledModelsDir: process.env.SORTED_STUDIO_BUNDLED_MODELS ?? fileURLToPath(new URL('../../resources/models', import.meta.url)),
      bundledEvalSetsDir: fileURLToPath(new URL('../../resources/eval', import.meta.url)),
      datasetWorker: { path: datasetWorkerPath },
      ...(values['data-dir'] ? { dataDir: values['data-dir'] } : {}),
    })
    let server
    try {
      server = await startServer({ backend, rendererDir, port })
    } catch (error) {
      await backend.close()
      if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new UsageError(`Port ${port} on 127.0.0.1 is already in use.`)
      throw error
    }
    process.stdout.write(`Sorted Studio listening on ${server.url}\n`)
    process.stderr.write(`Data folder: ${backend.dataDir}\n`)

    const running = server
    return new Promise<number>((resolve) => {
      const stop = () => {
        void running.close().then(async () => {
          await backend.close()
          resolve(0)
        })
      }
      process.once('SIGINT', stop)
      process.once('SIGTERM', stop)
    })
  },
}
