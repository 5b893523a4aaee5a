import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { openBackend } from '../services/backend'
import { checkApiKey, readOrCreateApiKey } from '../services/api-key'
import { isLoopbackAddress, startServer, type OpenAiServing, type RunningServer } from '../server/server'
import { normalizeOrigin } from '../server/openai/gate'
import { numberOption } from './options'
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
  usage: `sorted serve [--port N] [--data-dir DIR] [--api [API OPTIONS]]

  --port N            port on 127.0.0.1 (default 0: pick a free one)
  --data-dir DIR      where the database and model cache live
                      (default: $SORTED_STUDIO_HOME, else the OS user-data folder)
  --api               also serve an OpenAI-compatible API under /v1
  --api-key KEY       the key clients must send (default: the one stored in
                      the data folder's api-key file, made on first use)
  --no-api-key        take requests without a key (loopback only)
  --api-origin URL    a web origin allowed to call the API (repeatable;
                      default: none, so browser pages are refused)
  --api-queue N       requests that may wait for the engine before the API
                      answers 429 (default 16)
  --host ADDR         listen on ADDR instead of 127.0.0.1, for the API only
                      (needs a key; the app itself answers on loopback only)

Prints one line, "Sorted Studio listening on URL", once ready. The URL carries
a token that changes at every launch; the app's connection to the server
needs it. With --api, one more line follows:
"OpenAI-compatible API: http://127.0.0.1:PORT/v1 (API key: KEY)".
Models are named NAME (full depth) and NAME@K (exit after K layers).`,
  async run(args) {
    const { values } = parseArgs({
      args,
      options: {
        port: { type: 'string', default: '0' },
        'data-dir': { type: 'string' },
        api: { type: 'boolean', default: false },
        'api-key': { type: 'string' },
        'no-api-key': { type: 'boolean', default: false },
        'api-origin': { type: 'string', multiple: true },
        'api-queue': { type: 'string' },
        host: { type: 'string' },
      },
      strict: true,
    })
    const port = parsePort(values.port)
    const api = apiOptions(values)
    const rendererDir = defaultRendererDir()
    if (!existsSync(`${rendererDir}/index.html`)) {
      throw new UsageError(`The user interface is not built (${rendererDir} has no index.html). Run \`npm run build\`.`)
    }
    let server: RunningServer | undefined
    let fromSettings: OpenAiServing | undefined
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
      ...(api?.queue !== undefined ? { apiQueueLimit: api.queue } : {}),
      // Settings' "Local API server" switch: /v1 on this same server while it is on.
      localApiListen: async (localApi, { key }) => {
        if (!server) throw new Error('the server is not listening yet')
        fromSettings = { api: localApi, key, allowedOrigins: [] }
        return {
          url: `http://127.0.0.1:${server.port}/v1`,
          close: async () => {
            fromSettings = undefined
          },
        }
      },
    })
    let openai: OpenAiServing | undefined
    try {
      if (api) {
        const key = api.noKey ? undefined : (api.key ?? readOrCreateApiKey(backend.dataDir, (message) => process.stderr.write(`${message}\n`)))
        openai = { api: backend.localApi, key, allowedOrigins: api.origins }
      }
      const fixed = openai
      server = await startServer({ backend, rendererDir, port, openai: fixed ?? (() => fromSettings), ...(api?.host ? { host: api.host } : {}) })
    } catch (error) {
      await backend.close()
      const host = api?.host ?? '127.0.0.1'
      if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new UsageError(`Port ${port} on ${host} is already in use.`)
      if ((error as NodeJS.ErrnoException).code === 'EADDRNOTAVAIL') throw new UsageError(`--host ${host} is not an address of this machine.`)
      throw error
    }
    process.stdout.write(`Sorted Studio listening on ${server.url}\n`)
    if (openai) {
      const shown = api?.host && !isWildcard(api.host) && !isLoopbackAddress(api.host) ? api.host : '127.0.0.1'
      const url = `http://${shown}:${server.port}/v1`
      backend.localApiSwitch.fix(url, openai.key ?? '')
      process.stdout.write(`OpenAI-compatible API: ${url} (${openai.key === undefined ? 'no API key' : `API key: ${openai.key}`})\n`)
      if (api?.host && !isLoopbackAddress(api.host) && api.host !== 'localhost') {
        process.stderr.write(`Warning: the API listens on ${api.host}:${server.port}, reachable from other machines; anyone holding the key can run the models.\n`)
      }
    }
    if (!openai) {
      // Turned on in Settings earlier: /v1 comes back with the server.
      const state = await backend.localApiSwitch.start()
      if (state.state === 'on') process.stdout.write(`OpenAI-compatible API: ${state.url} (API key: ${state.key})\n`)
    }
    process.stderr.write(`Data folder: ${backend.dataDir}\n`)

    const running: RunningServer = server
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

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::'
}

interface ApiFlags {
  key: string | undefined
  noKey: boolean
  origins: string[]
  queue: number | undefined
  host: string | undefined
}

/** The API flags, checked together: undefined without --api (and then no API flag may be given). */
function apiOptions(values: {
  api?: boolean
  'api-key'?: string
  'no-api-key'?: boolean
  'api-origin'?: string[]
  'api-queue'?: string
  host?: string
}): ApiFlags | undefined {
  if (!values.api) {
    const stray = (['api-key', 'no-api-key', 'api-origin', 'api-queue', 'host'] as const).find((flag) => values[flag] !== undefined && values[flag] !== false)
    if (stray) throw new UsageError(`--${stray} needs --api.`)
    return undefined
  }
  const key = values['api-key']
  const noKey = values['no-api-key'] === true
  if (key !== undefined && noKey) throw new UsageError('--api-key and --no-api-key cannot be given together.')
  if (key !== undefined) {
    const problem = checkApiKey(key)
    if (problem) throw new UsageError(`--api-key ${problem}.`)
  }
  const host = values.host
  if (host !== undefined) {
    if (host.trim() === '') throw new UsageError('--host must name an address (e.g. 0.0.0.0).')
    if (noKey && !isLoopbackAddress(host) && host !== 'localhost') throw new UsageError('--host needs an API key: drop --no-api-key (other machines must present the key).')
  }
  const origins = (values['api-origin'] ?? []).map((origin) => {
    const normalized = normalizeOrigin(origin)
    if (!normalized || normalized === 'null') throw new UsageError(`--api-origin must be an origin such as http://localhost:5173 (got "${origin}").`)
    return normalized
  })
  const queue = numberOption('api-queue', values['api-queue'], (n) => Number.isInteger(n) && n >= 0 && n <= 1000, 'a whole number from 0 to 1000')
  return { key, noKey, origins, queue, host }
}
