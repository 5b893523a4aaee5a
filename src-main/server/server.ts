/**
 * Browser mode: the built renderer over HTTP and the API contract over a
 * WebSocket, on 127.0.0.1 only, behind the token/Host/Origin gate.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Backend } from '../services/backend'
import { checkRequest, newToken, tokenCookieName } from './security'
import { createSocketServer } from './socket'
import { resolveStaticFile, securityHeaders, sendFile } from './static'

export const socketPath = '/api/ws'
const host = '127.0.0.1'

export interface ServerOptions {
  backend: Backend
  /** Folder with the built renderer (index.html and assets/). */
  rendererDir: string
  /**
   * Serves the renderer instead of rendererDir, behind the same gate: the
   * Vite dev server's middleware in `npm run dev` (browser mode).
   */
  serveRenderer?: (req: IncomingMessage, res: ServerResponse) => void
  /** 0 picks a free port. */
  port: number
  /** Fixed token, for tests; otherwise a fresh random one per launch. */
  token?: string
}

export interface RunningServer {
  readonly port: number
  readonly token: string
  /** The address to open: it carries the token. */
  readonly url: string
  close(): Promise<void>
}

function refuse(res: ServerResponse, status: number, reason: string): void {
  res.writeHead(status, { ...securityHeaders(), 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' })
  res.end(`${status === 401 ? 'Unauthorized' : status === 403 ? 'Forbidden' : 'Error'}: ${reason}\n`)
}

function refuseUpgrade(socket: Duplex, status: number, reason: string): void {
  const text = status === 401 ? 'Unauthorized' : 'Forbidden'
  socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${reason}\n`)
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const token = options.token ?? newToken()
  const { wss, broadcast } = createSocketServer(options.backend.dispatch)
  const unsubscribe = options.backend.subscribe(broadcast)
  let port = options.port

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', `http://${host}:${port}`)
    const gate = checkRequest(url, req.headers, port, token)
    if (!gate.ok) return refuse(res, gate.status, gate.reason)
    if (req.method !== 'GET' && req.method !== 'HEAD') return refuse(res, 405, 'Only GET and HEAD are served')
    // The page's own asset requests carry no query: a same-site, HttpOnly
    // cookie set from the tokened URL authorises them.
    if (gate.tokenFromQuery) {
      res.setHeader('Set-Cookie', `${tokenCookieName(port)}=${token}; HttpOnly; SameSite=Strict; Path=/`)
    }
    if (options.serveRenderer) return options.serveRenderer(req, res)
    const file = resolveStaticFile(options.rendererDir, url.pathname)
    if (!file) return refuse(res, 404, `${url.pathname} not found`)
    sendFile(res, file, req.method)
  }

  const http = createServer(onRequest)
  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', `http://${host}:${port}`)
    const gate = checkRequest(url, req.headers, port, token)
    if (!gate.ok) return refuseUpgrade(socket, gate.status, gate.reason)
    if (url.pathname !== socketPath) return refuseUpgrade(socket, 403, `No WebSocket at ${url.pathname}`)
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req))
  })

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject)
    http.listen(options.port, host, () => {
      http.off('error', reject)
      resolve()
    })
  })
  port = (http.address() as AddressInfo).port

  return {
    port,
    token,
    url: `http://${host}:${port}/?token=${token}`,
    close: async () => {
      unsubscribe()
      for (const client of wss.clients) client.terminate()
      wss.close()
      http.closeAllConnections()
      await new Promise<void>((resolve) => http.close(() => resolve()))
    },
  }
}
