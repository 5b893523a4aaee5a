/**
 * No request can take the server down: odd targets, malformed cookies,
 * resets and handler failures are answered (400/500) and the next request
 * is served as usual.
 */
import { createServer, type Server } from 'node:http'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { openBackend, type Backend } from '../../../src-main/services/backend'
import { startServer, type RunningServer } from '../../../src-main/server/server'
import { sendFile } from '../../../src-main/server/static'
import { rawExchange } from './raw-http'

let root: string
let rendererDir: string
let backend: Backend
let server: RunningServer
const logged: string[] = []

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'server-malformed-'))
  rendererDir = join(root, 'renderer')
  mkdirSync(rendererDir, { recursive: true })
  writeFileSync(join(rendererDir, 'index.html'), '<!doctype html><title>Sorted Studio</title>')
  backend = openBackend({ transport: 'browser', dataDir: join(root, 'data'), log: () => {} })
  server = await startServer({ backend, rendererDir, port: 0, log: (line) => logged.push(line) })
})

afterAll(async () => {
  await server.close()
  await backend.close()
  rmSync(root, { recursive: true, force: true })
})

const ownHost = () => `127.0.0.1:${server.port}`
const upgradeHeaders = 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'

/** The server still serves its page: it did not crash and is not wedged. */
async function expectStillServing(port = server.port): Promise<void> {
  const reply = await rawExchange(port, `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`)
  expect(reply.statuses).toEqual([200])
}

describe('request targets that are not a path', () => {
  for (const target of ['http://[', 'http://127.0.0.1/', '*', 'index.html']) {
    it(`answers 400 to GET ${target} and keeps serving`, async () => {
      const reply = await rawExchange(server.port, `GET ${target} HTTP/1.1\r\nHost: ${ownHost()}\r\nConnection: close\r\n\r\n`)
      expect(reply.statuses).toEqual([400])
      await expectStillServing()
    })

    it(`answers 400 to a WebSocket upgrade at ${target} and keeps serving`, async () => {
      const reply = await rawExchange(server.port, `GET ${target} HTTP/1.1\r\nHost: ${ownHost()}\r\n${upgradeHeaders}Authorization: Bearer ${server.token}\r\n\r\n`)
      expect(reply.statuses).toEqual([400])
      await expectStillServing()
    })
  }
})

describe('paths that URL parsers choke on', () => {
  it('answers 404 to GET //[ (a path, but no file) and keeps serving', async () => {
    const reply = await rawExchange(server.port, `GET //[ HTTP/1.1\r\nHost: ${ownHost()}\r\nConnection: close\r\n\r\n`)
    expect(reply.statuses).toEqual([404])
    await expectStillServing()
  })

  it('refuses a WebSocket upgrade at //[ and keeps serving', async () => {
    const reply = await rawExchange(server.port, `GET //[ HTTP/1.1\r\nHost: ${ownHost()}\r\n${upgradeHeaders}\r\n`)
    expect(reply.statuses).toEqual([401])
    const authorised = await rawExchange(server.port, `GET //[ HTTP/1.1\r\nHost: ${ownHost()}\r\n${upgradeHeaders}Authorization: Bearer ${server.token}\r\n\r\n`)
    expect(authorised.statuses).toEqual([403])
    await expectStillServing()
  })

  it('reads //x as a path on this server, not as another host', async () => {
    const reply = await rawExchange(server.port, `GET //evil.example/index.html HTTP/1.1\r\nHost: ${ownHost()}\r\nConnection: close\r\n\r\n`)
    expect(reply.statuses).toEqual([404])
  })
})

describe('malformed cookies', () => {
  it('ignores a cookie that is not valid percent-encoding, on a page request', async () => {
    const reply = await rawExchange(server.port, `GET / HTTP/1.1\r\nHost: ${ownHost()}\r\nCookie: sorted_token_${server.port}=%ZZ\r\nConnection: close\r\n\r\n`)
    expect(reply.statuses).toEqual([200])
    await expectStillServing()
  })

  it('ignores it on a WebSocket upgrade too, which still needs the token', async () => {
    const reply = await rawExchange(server.port, `GET /api/ws HTTP/1.1\r\nHost: ${ownHost()}\r\n${upgradeHeaders}Cookie: sorted_token_${server.port}=%ZZ\r\n\r\n`)
    expect(reply.statuses).toEqual([401])
    await expectStillServing()
  })
})

describe('clients that go away', () => {
  it('survives a refused upgrade whose client resets the connection', async () => {
    for (let i = 0; i < 20; i++) {
      await rawExchange(server.port, `GET /api/ws HTTP/1.1\r\nHost: ${ownHost()}\r\n${upgradeHeaders}\r\n`, { resetOnReply: true })
    }
    await expectStillServing()
  })

  it('survives a page request whose client resets the connection', async () => {
    for (let i = 0; i < 20; i++) {
      await rawExchange(server.port, `GET / HTTP/1.1\r\nHost: ${ownHost()}\r\n\r\n`, { resetOnReply: true })
    }
    await expectStillServing()
  })
})

describe('a request handler that fails', () => {
  it('answers 500, says so in one log line, and keeps serving', async () => {
    const lines: string[] = []
    let fail = true
    const failing = await startServer({
      backend,
      rendererDir,
      port: 0,
      log: (line) => lines.push(line),
      serveRenderer: (_req, res) => {
        if (fail) throw new Error('renderer middleware broke')
        res.end('ok')
      },
    })
    try {
      const reply = await rawExchange(failing.port, `GET / HTTP/1.1\r\nHost: 127.0.0.1:${failing.port}\r\nConnection: close\r\n\r\n`)
      expect(reply.statuses).toEqual([500])
      expect(reply.text).not.toContain('renderer middleware broke')
      expect(lines).toEqual([expect.stringContaining('renderer middleware broke')])
      expect(lines[0]).not.toContain('\n')
      fail = false
      await expectStillServing(failing.port)
    } finally {
      await failing.close()
    }
  })
})

describe('sending a static file', () => {
  let plain: Server
  let port: number
  beforeAll(async () => {
    // The file was found, then vanished before it was read (a rebuild, say).
    plain = createServer((req, res) => sendFile(res, join(rendererDir, 'vanished.js'), req.method ?? 'GET'))
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve))
    port = (plain.address() as AddressInfo).port
  })
  afterAll(() => new Promise<void>((resolve) => plain.close(() => resolve())))

  it('answers 404 when the file cannot be opened any more, instead of crashing', async () => {
    const reply = await rawExchange(port, 'GET /vanished.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    expect(reply.statuses).toEqual([404])
  })
})

describe('a backend whose dispatch throws', () => {
  it('answers the call with an internal error and keeps the socket and the server', async () => {
    const throwing: Backend = {
      dataDir: root,
      dispatch: async (method) => {
        if (method === 'app.info') throw new Error('dispatch broke')
        return { ok: true, result: {} }
      },
      subscribe: () => () => {},
      close: async () => {},
    }
    const running = await startServer({ backend: throwing, rendererDir, port: 0 })
    try {
      const ws = new WebSocket(`ws://127.0.0.1:${running.port}/api/ws`, { headers: { authorization: `Bearer ${running.token}` } })
      await new Promise((resolve, reject) => {
        ws.once('open', resolve)
        ws.once('error', reject)
      })
      const replies: Record<string, unknown>[] = []
      const two = new Promise<void>((resolve) =>
        ws.on('message', (data) => {
          replies.push(JSON.parse(String(data)))
          if (replies.length === 2) resolve()
        }),
      )
      ws.send(JSON.stringify({ type: 'request', id: 1, method: 'app.info', params: {} }))
      ws.send(JSON.stringify({ type: 'request', id: 2, method: 'settings.get', params: {} }))
      await two
      expect(replies).toEqual([
        { type: 'response', id: 1, ok: false, error: expect.objectContaining({ code: 'internal' }) },
        { type: 'response', id: 2, ok: true, result: {} },
      ])
      expect(JSON.stringify(replies[0])).not.toContain('dispatch broke')
      ws.close()
      await expectStillServing(running.port)
    } finally {
      await running.close()
    }
  })
})
