import { request as httpRequest } from 'node:http'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { openBackend, type Backend } from '../../../src-main/services/backend'
import { startServer, type RunningServer } from '../../../src-main/server/server'
import { tokenProtocolPrefix } from '../../../src-main/server/security'
import { apiProtocol, maxFrameBytes } from '../../../src-main/server/socket'

let root: string
let backend: Backend
let server: RunningServer

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'server-'))
  const rendererDir = join(root, 'renderer')
  mkdirSync(join(rendererDir, 'assets'), { recursive: true })
  writeFileSync(join(rendererDir, 'index.html'), '<!doctype html><title>Sorted Studio</title>')
  writeFileSync(join(rendererDir, 'assets', 'app.js'), 'console.log(1)')
  backend = openBackend({ transport: 'browser', dataDir: join(root, 'data'), log: () => {} })
  server = await startServer({ backend, rendererDir, port: 0 })
})

afterAll(async () => {
  await server.close()
  await backend.close()
  rmSync(root, { recursive: true, force: true })
})

interface Reply {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

/** node:http rather than fetch, because fetch will not send a custom Host header. */
function get(path: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: server.port, path, headers: { host: `127.0.0.1:${server.port}`, ...headers } }, (res) => {
      let body = ''
      res.on('data', (chunk) => (body += chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

const socketUrl = () => `ws://127.0.0.1:${server.port}/api/ws`
/** How a browser page presents the token: a subprotocol next to the API's own. */
const browserProtocols = () => [apiProtocol, `${tokenProtocolPrefix}${server.token}`]
const bearer = () => ({ authorization: `Bearer ${server.token}` })

function connect(url = socketUrl(), headers: Record<string, string> = bearer(), protocols: string[] = []): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { headers })
    ws.once('open', () => resolve(ws))
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)))
    ws.once('error', reject)
  })
}

function nextMessage(ws: WebSocket): Promise<Record<string, unknown>> {
  return new Promise((resolve) => ws.once('message', (data) => resolve(JSON.parse(String(data)))))
}

function messages(ws: WebSocket, count: number): Promise<Record<string, unknown>[]> {
  const received: Record<string, unknown>[] = []
  return new Promise((resolve) => {
    const onMessage = (data: WebSocket.RawData) => {
      received.push(JSON.parse(String(data)))
      if (received.length === count) {
        ws.off('message', onMessage)
        resolve(received)
      }
    }
    ws.on('message', onMessage)
  })
}

async function call(ws: WebSocket, frame: unknown): Promise<Record<string, unknown>> {
  const reply = nextMessage(ws)
  ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame))
  return reply
}

describe('browser-mode HTTP', () => {
  it('prints a URL on 127.0.0.1 that carries a URL-safe token for the page', () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]+$/)
  })

  it('serves the page with a strict CSP and never sets a cookie', async () => {
    for (const path of [`/?token=${server.token}`, '/', '/assets/app.js']) {
      const reply = await get(path)
      expect(reply.status).toBe(200)
      expect(reply.headers['set-cookie']).toBeUndefined()
      expect(reply.headers['content-security-policy']).toContain("script-src 'self'")
      expect(reply.headers['content-security-policy']).toContain("frame-ancestors 'none'")
    }
    expect((await get('/')).body).toContain('<title>Sorted Studio</title>')
    expect((await get('/assets/app.js')).headers['content-type']).toContain('text/javascript')
  })

  it('answers 403 to a foreign Host or Origin, even for the public page', async () => {
    expect((await get('/', { host: `rebound.example:${server.port}` })).status).toBe(403)
    expect((await get('/assets/app.js', { origin: 'https://evil.example' })).status).toBe(403)
  })

  it('answers 404 for a missing file', async () => {
    expect((await get('/missing.js')).status).toBe(404)
  })

  it('has no HTTP API: paths under /api/ are never the page, with or without the token', async () => {
    for (const headers of [{}, bearer()]) {
      const reply = await get('/api/ws', headers)
      expect(reply.status).toBe(404)
      expect(reply.body).not.toContain('Sorted Studio</title>')
    }
  })

  it('answers 405 to methods other than GET and HEAD', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: server.port, path: '/', method: 'POST', headers: { host: `127.0.0.1:${server.port}` } }, (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      })
      req.on('error', reject)
      req.end()
    })
    expect(status).toBe(405)
  })
})

describe('browser-mode WebSocket', () => {
  it('refuses an upgrade without the token (401) or from a foreign origin (403)', async () => {
    await expect(connect(socketUrl(), {})).rejects.toThrow('HTTP 401')
    await expect(connect(socketUrl(), { ...bearer(), origin: 'http://evil.example' })).rejects.toThrow('HTTP 403')
    await expect(connect(socketUrl(), { ...bearer(), host: `evil.example:${server.port}` })).rejects.toThrow('HTTP 403')
  })

  it('takes the token from no cookie and no query string', async () => {
    await expect(connect(socketUrl(), { cookie: `sorted_token_${server.port}=${server.token}` })).rejects.toThrow('HTTP 401')
    await expect(connect(`${socketUrl()}?token=${server.token}`, {})).rejects.toThrow('HTTP 401')
  })

  it('accepts the token as a subprotocol, as a browser sends it, and answers with the API protocol only', async () => {
    const ws = await connect(socketUrl(), { origin: `http://127.0.0.1:${server.port}` }, browserProtocols())
    expect(ws.protocol).toBe(apiProtocol)
    expect(await call(ws, { type: 'request', id: 2, method: 'app.info', params: {} })).toMatchObject({ id: 2, ok: true })
    ws.close()
  })

  it('refuses a token subprotocol offered without the API protocol', async () => {
    // The server would have to echo the token back; it echoes nothing, and the client gives up.
    await expect(connect(socketUrl(), {}, [`${tokenProtocolPrefix}${server.token}`])).rejects.toThrow('Server sent no subprotocol')
  })

  it('carries a request and its response', async () => {
    const ws = await connect(socketUrl(), { ...bearer(), origin: `http://127.0.0.1:${server.port}` })
    const reply = await call(ws, { type: 'request', id: 7, method: 'app.info', params: {} })
    expect(reply).toMatchObject({ type: 'response', id: 7, ok: true, result: { name: 'Sorted Studio', transport: 'browser' } })
    ws.close()
  })

  it('answers malformed messages with structured errors and keeps serving', async () => {
    const ws = await connect()
    expect(await call(ws, 'not json{')).toMatchObject({ type: 'error', error: { code: 'bad_message' } })
    expect(await call(ws, { type: 'request', id: 3 })).toMatchObject({ type: 'response', id: 3, ok: false, error: { code: 'bad_message' } })
    expect(await call(ws, { type: 'request', id: 4, method: 'no.such' })).toMatchObject({ id: 4, ok: false, error: { code: 'unknown_method' } })
    expect(await call(ws, { type: 'request', id: 5, method: 'settings.update', params: { theme: 7 } })).toMatchObject({
      id: 5,
      ok: false,
      error: { code: 'invalid_params', issues: [{ path: 'theme' }] },
    })
    const binary = nextMessage(ws)
    ws.send(Buffer.from([1, 2, 3]))
    expect(await binary).toMatchObject({ type: 'error', error: { code: 'bad_message' } })
    expect(await call(ws, { type: 'request', id: 6, method: 'settings.get' })).toMatchObject({ id: 6, ok: true })
    ws.close()
  })

  it('closes only the socket that sends an oversized frame', async () => {
    const ws = await connect()
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)))
    ws.send('x'.repeat(maxFrameBytes + 1))
    expect(await closed).toBe(1009)
    const other = await connect()
    expect(await call(other, { type: 'request', id: 1, method: 'settings.get' })).toMatchObject({ ok: true })
    other.close()
  })

  it('pushes settings.changed to every connected client, the caller included', async () => {
    const a = await connect()
    const b = await connect()
    const toA = messages(a, 2)
    const toB = messages(b, 1)
    a.send(JSON.stringify({ type: 'request', id: 1, method: 'settings.update', params: { theme: 'dark' } }))
    const event = { type: 'event', event: 'settings.changed', payload: { executionProvider: 'auto', theme: 'dark' } }
    expect(await toB).toEqual([event])
    expect(await toA).toEqual(expect.arrayContaining([event, expect.objectContaining({ type: 'response', id: 1, ok: true })]))
    a.close()
    b.close()
  })
})
