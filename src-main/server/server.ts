/**
 * Browser mode: the built renderer over HTTP and the API contract over a
 * WebSocket, on 127.0.0.1 only. The page and its assets are public (they hold
 * no secret) but only for requests addressed to this server from its own
 * origin; the WebSocket also needs the per-launch token. No request, however
 * malformed, gets past the handlers as an exception: it is answered (400,
 * 500) and the server carries on.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Backend } from '../services/backend'
import { refuse, refuseUpgrade } from './replies'
import { parseRequestTarget } from './request-target'
import { checkApiRequest, checkSite, newToken } from './security'
import { createSocketServer } from './socket'
import { resolveStaticFile, sendFile } from './static'
import { apiPathPrefix, createOpenAiRouter, type OpenAiBackend } from './openai/router'
import type { ApiGateConfig } from './openai/gate'

export const socketPath = '/api/ws'
/** Paths under here are the API's, never the renderer's (whose SPA fallback would answer them with the page). */
const apiPrefix = '/api/'
const loopbackHost = '127.0.0.1'

/** Whether the address a connection arrived on is this machine's loopback. */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false
  return address === '::1' || /^(::ffff:)?127\./.test(address)
}

/** The OpenAI-compatible API under /v1, with its own gate (openai/gate.ts), separate from the app's token. */
export interface OpenAiServing {
  api: OpenAiBackend
  /** The API key; undefined (--no-api-key) only on loopback. */
  key: string | undefined
  /** Web origins allowed to call the API (default: none). */
  allowedOrigins: readonly string[]
}

export interface ServerOptions {
  backend: Backend
  /** Folder with the built renderer (index.html and assets/). */
  rendererDir: string
  /**
   * Serves the renderer instead of rendererDir, behind the same Host/Origin
   * gate: the Vite dev server's middleware in `npm run dev` (browser mode).
   */
  serveRenderer?: (req: IncomingMessage, res: ServerResponse) => void
  /** 0 picks a free port. */
  port: number
  /** Fixed token, for tests; otherwise a fresh random one per launch. */
  token?: string
  /** Where a request handler's failure is reported, one line each; stderr by default. */
  log?: (line: string) => void
  /** Serve the OpenAI-compatible API under /v1: always, or while the function returns a value (Settings' switch in browser mode). */
  openai?: OpenAiServing | (() => OpenAiServing | undefined)
  /**
   * The address to listen on; default 127.0.0.1. Any other address serves
   * /v1 only (and needs an API key, checked by the caller): the app itself
   * answers on loopback connections only.
   */
  host?: string
}

export interface RunningServer {
  readonly port: number
  readonly token: string
  /** The address to open: the page takes the token from it. */
  readonly url: string
  close(): Promise<void>
}

function describeFailure(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  return text.replace(/\s+/g, ' ')
}

/** The target without its query, which may carry the token: never logged. */
function pathOf(req: IncomingMessage): string {
  return (req.url ?? '').split('?')[0] ?? ''
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const token = options.token ?? newToken()
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`))
  const { wss, broadcast } = createSocketServer(options.backend.dispatch)
  const unsubscribe = options.backend.subscribe(broadcast)
  let port = options.port
  const host = options.host ?? loopbackHost
  const origin = () => `http://${loopbackHost}:${port}`
  const gate: ApiGateConfig = { key: undefined, allowedOrigins: [], loopback: isLoopbackAddress(host) || host === 'localhost', port: 0 }
  let router: ReturnType<typeof createOpenAiRouter> | undefined
  /** The /v1 router while the API is on, its gate set to the current key and origins. */
  const openaiRoute = (): ReturnType<typeof createOpenAiRouter> | undefined => {
    const serving = typeof options.openai === 'function' ? options.openai() : options.openai
    if (!serving) return undefined
    gate.key = serving.key
    gate.allowedOrigins = serving.allowedOrigins
    router ??= createOpenAiRouter({ api: serving.api, gate, log })
    return router
  }

  const serveRequest = (req: IncomingMessage, res: ServerResponse) => {
    const url = parseRequestTarget(req.url, origin())
    if (!url) return refuse(res, 400, 'The request target must be a path')
    const route = url.pathname === apiPathPrefix || url.pathname.startsWith(`${apiPathPrefix}/`) ? openaiRoute() : undefined
    if (route) return route(req, res, url.pathname)
    if (!isLoopbackAddress(req.socket.localAddress)) return refuse(res, 403, 'The app is served on 127.0.0.1 only')
    const site = checkSite(req.headers, port)
    if (!site.ok) return refuse(res, site.status, site.reason)
    if (req.method !== 'GET' && req.method !== 'HEAD') return refuse(res, 405, 'Only GET and HEAD are served')
    if (url.pathname.startsWith(apiPrefix)) return refuse(res, 404, `The API is a WebSocket at ${socketPath}`)
    if (options.serveRenderer) return options.serveRenderer(req, res)
    const file = resolveStaticFile(options.rendererDir, url.pathname)
    if (!file) return refuse(res, 404, `${url.pathname} not found`)
    sendFile(res, file, req.method)
  }

  const serveUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = parseRequestTarget(req.url, origin())
    if (!url) return refuseUpgrade(socket, 400, 'The request target must be a path')
    if (!isLoopbackAddress(req.socket.localAddress)) return refuseUpgrade(socket, 403, 'The app is served on 127.0.0.1 only')
    const checked = checkApiRequest(req.headers, port, token)
    if (!checked.ok) return refuseUpgrade(socket, checked.status, checked.reason)
    if (url.pathname !== socketPath) return refuseUpgrade(socket, 403, `No WebSocket at ${url.pathname}`)
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req))
  }

  const http = createServer((req, res) => {
    try {
      serveRequest(req, res)
    } catch (error) {
      log(`Sorted Studio server: ${req.method} ${pathOf(req)} failed: ${describeFailure(error)}`)
      refuse(res, 500, 'The server could not answer this request')
    }
  })
  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // Node stops watching an upgraded socket's errors; a client that resets
    // it before ws takes over (or after a refusal) must not crash the process.
    socket.on('error', () => socket.destroy())
    try {
      serveUpgrade(req, socket, head)
    } catch (error) {
      log(`Sorted Studio server: WebSocket upgrade at ${pathOf(req)} failed: ${describeFailure(error)}`)
      refuseUpgrade(socket, 500, 'The server could not answer this request')
    }
  })

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject)
    http.listen(options.port, host, () => {
      http.off('error', reject)
      resolve()
    })
  })
  port = (http.address() as AddressInfo).port
  gate.port = port

  return {
    port,
    token,
    url: `${origin()}/?token=${token}`,
    close: async () => {
      unsubscribe()
      for (const client of wss.clients) client.terminate()
      wss.close()
      http.closeAllConnections()
      await new Promise<void>((resolve) => http.close(() => resolve()))
    },
  }
}
