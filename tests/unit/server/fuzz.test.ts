/**
 * A seeded barrage of random and malformed requests over raw TCP (fetch and
 * node:http would normalise most of it away): request lines, methods,
 * targets, headers, cookies, WebSocket upgrades and frames. Afterwards the
 * server must still answer a valid authenticated request, and no request
 * without the token may have reached the API. SORTED_FUZZ_SEED=N replays
 * another barrage; failures name the seed and the case.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { openBackend, type Backend } from '../../../src-main/services/backend'
import { startServer, type RunningServer } from '../../../src-main/server/server'
import { rawExchange, type RawReply } from './raw-http'

const seed = Number(process.env.SORTED_FUZZ_SEED ?? 20260613)
const cases = 3000
/** Connections open at once. */
const parallel = 24

let root: string
let backend: Backend
let server: RunningServer
const logged: string[] = []

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'server-fuzz-'))
  const rendererDir = join(root, 'renderer')
  mkdirSync(join(rendererDir, 'assets'), { recursive: true })
  writeFileSync(join(rendererDir, 'index.html'), '<!doctype html><title>Sorted Studio</title>')
  writeFileSync(join(rendererDir, 'assets', 'app.js'), 'console.log(1)')
  backend = openBackend({ transport: 'browser', dataDir: join(root, 'data'), log: () => {} })
  server = await startServer({ backend, rendererDir, port: 0, log: (line) => logged.push(line) })
})

afterAll(async () => {
  await server?.close()
  await backend?.close()
  rmSync(root, { recursive: true, force: true })
})

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
function prng(state: number): () => number {
  return () => {
    state = (state + 0x6d2b79f5) | 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

class Dice {
  constructor(private readonly next: () => number) {}
  int(below: number): number {
    return Math.floor(this.next() * below)
  }
  chance(p: number): boolean {
    return this.next() < p
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!
  }
  bytes(length: number): Buffer {
    return Buffer.from(Array.from({ length }, () => this.int(256)))
  }
  /** Printable ASCII with the characters parsers trip on over-represented. */
  text(length: number): string {
    const nasty = '[]%@:/?#\\"\'<>{}|^`~ \t;,=*'
    let out = ''
    for (let i = 0; i < length; i++) out += this.chance(0.3) ? this.pick([...nasty]) : String.fromCharCode(33 + this.int(94))
    return out
  }
}

interface Case {
  bytes: Buffer
  /** Whether the request presents the real token where the API looks for it (bearer header or subprotocol). */
  authorised: boolean
  target: string
  /**
   * How the exchange ends: the server closes (the request says
   * `Connection: close`), the client half-closes after sending (the request
   * may be incomplete, or a WebSocket stays open), or the client resets.
   */
  ending: 'server' | 'halfClose' | 'reset'
  description: string
}

const apiPath = '/api/ws'

function makeCase(dice: Dice, port: number, token: string): Case {
  const own = `127.0.0.1:${port}`
  const wrongToken = token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A')
  // Most requests are well formed around one odd part, so they reach the
  // gate and the socket; the rest are mangled throughout, to reach the parser.
  const mangled = dice.chance(0.3)
  const method = !mangled ? dice.pick(['GET', 'GET', 'GET', 'GET', 'HEAD', 'POST', 'OPTIONS']) : dice.pick(['GET', 'GET', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE', 'CONNECT', 'get', 'BREW', '', 'G\0T', dice.text(1 + dice.int(8))])
  const upgrade = dice.chance(0.5)
  // Upgrades mostly aim at the socket, so that many reach the token check and some the frames.
  const target = upgrade && dice.chance(0.6) ? apiPath : dice.pick([
    '/', '/', '/index.html', '/index.html', '/assets/app.js', '/assets/app.js', ...Array<string>(8).fill(apiPath), '/api/', '/api/other', '//[', '//[/api/ws', 'http://[', `http://${own}${apiPath}`,
    '*', '/%ZZ', '/%00', '/%E0%A4%A', '/..%2f..%2fetc/passwd', '/assets/../../secret', `/?token=${token}`, `${apiPath}?token=${token}`,
    `/?token=${wrongToken}`, '//evil.example/api/ws', '/API/WS', `${apiPath}/../ws`, `${apiPath}#x`, '/%2fapi/ws', '', ' ', '/\x7f', `/${'a'.repeat(dice.int(9000))}`,
    `/${dice.text(1 + dice.int(40))}`, dice.text(1 + dice.int(40)),
  ])
  const version = !mangled ? 'HTTP/1.1' : dice.pick(['HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/1.1x', '', 'HTTP/0.9', dice.text(8)])
  const headers: string[] = []
  let authorised = false

  const host = dice.pick([own, own, own, own, own, own, `localhost:${port}`, '', 'evil.example', `evil.example:${port}`, '[', '127.0.0.1', `127.0.0.1:${port + 1}`, dice.text(12)])
  if (!mangled || dice.chance(0.9)) headers.push(`Host: ${host}`)
  if (mangled && dice.chance(0.1)) headers.push(`Host: ${own}`)
  if (dice.chance(0.4)) headers.push(`Origin: ${dice.pick([`http://${own}`, `http://${own}`, `http://${own}`, `http://${own}`, 'null', 'http://evil.example', `https://${own}`, '%ZZ', 'http://[', dice.text(20)])}`)
  if (dice.chance(0.4)) {
    headers.push(`Cookie: ${dice.pick([`sorted_token_${port}=%ZZ`, `sorted_token_${port}=${token}`, `sorted_token_${port}=${wrongToken}`, '=;=;;', '%', `a=${'%'.repeat(dice.int(200))}`, dice.text(60)])}`)
  }
  if (dice.chance(0.5)) {
    const real = dice.chance(0.5)
    const value = dice.pick(['Bearer %T', 'bearer %T', 'Bearer  %T ', 'Bearer', 'Bearer %T junk', 'Basic %T', '%T', 'Bearer %T%T', dice.text(30)])
    headers.push(`Authorization: ${value.replaceAll('%T', real ? token : wrongToken)}`)
    authorised = real && /^bearer +%T *$/i.test(value)
  }
  if (upgrade) {
    const odd = mangled || dice.chance(0.2)
    headers.push(!odd ? 'Connection: Upgrade' : dice.pick(['Connection: Upgrade', 'Connection: keep-alive, Upgrade', 'Connection: close', `Connection: ${dice.text(10)}`]))
    headers.push(!odd ? 'Upgrade: websocket' : dice.pick(['Upgrade: websocket', 'Upgrade: WebSocket', 'Upgrade: h2c', `Upgrade: ${dice.text(10)}`]))
    if (!odd || dice.chance(0.8)) headers.push(`Sec-WebSocket-Version: ${!odd ? '13' : dice.pick(['13', '8', '', dice.text(4)])}`)
    if (!odd || dice.chance(0.8)) headers.push(`Sec-WebSocket-Key: ${!odd ? dice.bytes(16).toString('base64') : dice.pick([dice.bytes(16).toString('base64'), '', 'short', dice.text(24)])}`)
    if (dice.chance(0.6)) {
      const real = dice.chance(0.6)
      const offered = dice.pick(['sorted.v1, sorted.token.%T', 'sorted.token.%T, sorted.v1', 'sorted.token.%T', 'sorted.v1', ',,,', 'sorted.v1,,sorted.token.%T', dice.text(30)])
      headers.push(`Sec-WebSocket-Protocol: ${offered.replaceAll('%T', real ? token : wrongToken)}`)
      if (real && offered.includes('sorted.token.%T')) authorised = true
    }
    if (dice.chance(0.2)) headers.push(`Sec-WebSocket-Extensions: ${dice.pick(['permessage-deflate', 'permessage-deflate; client_max_window_bits', 'x; =', dice.text(20)])}`)
  }
  let body: Buffer = Buffer.alloc(0)
  if (mangled && dice.chance(0.4)) headers.push(`Content-Length: ${dice.pick(['0', '5', '-1', '99999999999999999999', 'abc', String(dice.int(50))])}`)
  if (mangled && dice.chance(0.2)) headers.push(`Transfer-Encoding: ${dice.pick(['chunked', 'gzip, chunked', 'x'])}`)
  if (mangled && dice.chance(0.2)) headers.push(`${dice.pick(['Bad Name', 'X:Y', ':', 'X\0', 'X-Long'])}: ${dice.chance(0.5) ? 'a'.repeat(dice.int(20000)) : dice.text(10)}`)
  if (mangled && dice.chance(0.1)) headers.push('no colon here')
  if (mangled && dice.chance(0.1)) headers.push(' folded continuation')
  if (mangled && dice.chance(0.1)) headers.push(`X-Null: a\0b`)
  if (dice.chance(0.15)) body = Buffer.concat([body, Buffer.from(dice.pick(['hello', '0\r\n\r\n', 'zz\r\n', `GET ${apiPath} HTTP/1.1\r\nHost: ${own}\r\n\r\n`]), 'latin1')])
  if (dice.chance(0.05)) body = Buffer.concat([body, dice.bytes(dice.int(200))])

  const ending = dice.chance(0.05) ? 'reset' : !mangled && !upgrade && dice.chance(0.6) ? 'server' : 'halfClose'
  if (ending === 'server') headers.push('Connection: close')
  const eol = !mangled || dice.chance(0.7) ? '\r\n' : dice.pick(['\n', '\r', '\r\r\n'])
  const lineParts = [method, target, version].filter((_, i) => i !== 2 || version !== '' || dice.chance(0.5))
  const head = `${lineParts.join(!mangled || dice.chance(0.8) ? ' ' : dice.pick(['  ', '\t', '']))}${eol}${headers.join(eol)}${eol}${eol}`
  let bytes: Buffer = Buffer.concat([Buffer.from(head, 'latin1'), body])
  if (upgrade && authorised) bytes = Buffer.concat([bytes, ...Array.from({ length: dice.int(5) }, () => frame(dice))])
  if (mangled && dice.chance(0.15)) bytes = bytes.subarray(0, dice.int(bytes.length))
  if (mangled && dice.chance(0.1)) bytes = dice.bytes(dice.int(300))
  return { bytes, authorised, target, ending, description: JSON.stringify(bytes.subarray(0, 300).toString('latin1')) }
}

/** One WebSocket frame, sometimes well formed (masked JSON text), often not. */
function frame(dice: Dice): Buffer {
  const payload = Buffer.from(
    dice.pick([
      JSON.stringify({ type: 'request', id: dice.int(100), method: 'app.info', params: {} }),
      JSON.stringify({ type: 'request', id: dice.int(100), method: 'settings.get' }),
      JSON.stringify({ type: 'request', id: -1, method: 'no.such' }),
      '{"type":"request"',
      'null',
      '[]',
      dice.text(dice.int(100)),
      dice.bytes(dice.int(200)).toString('latin1'),
    ]),
    'latin1',
  )
  const fin = dice.chance(0.9) ? 0x80 : 0
  const rsv = dice.chance(0.1) ? dice.pick([0x40, 0x20, 0x10]) : 0
  const opcode = dice.chance(0.7) ? 0x1 : dice.pick([0x0, 0x2, 0x8, 0x9, 0xa, 0x3, 0xb, 0xf])
  const masked = dice.chance(0.9)
  const lengthForm = dice.pick(['exact', 'exact', 'exact', 'short16', 'huge64', 'lie'])
  let lengthBytes: Buffer
  if (lengthForm === 'short16') {
    lengthBytes = Buffer.alloc(3)
    lengthBytes[0] = 126
    lengthBytes.writeUInt16BE(payload.length, 1)
  } else if (lengthForm === 'huge64') {
    lengthBytes = Buffer.alloc(9)
    lengthBytes[0] = 127
    lengthBytes.writeBigUInt64BE(dice.pick([2n ** 63n - 1n, 2n ** 32n, 5n * 1024n * 1024n]), 1)
  } else if (lengthForm === 'lie') {
    lengthBytes = Buffer.from([Math.min(125, payload.length + 1 + dice.int(10))])
  } else if (payload.length < 126) {
    lengthBytes = Buffer.from([payload.length])
  } else {
    lengthBytes = Buffer.alloc(3)
    lengthBytes[0] = 126
    lengthBytes.writeUInt16BE(payload.length, 1)
  }
  lengthBytes[0] = lengthBytes[0]! | (masked ? 0x80 : 0)
  const key = dice.bytes(4)
  const body = masked ? Buffer.from(payload.map((b, i) => b ^ key[i % 4]!)) : payload
  return Buffer.concat([Buffer.from([fin | rsv | opcode]), lengthBytes, masked ? key : Buffer.alloc(0), body])
}

async function send(c: Case, port: number): Promise<RawReply> {
  return rawExchange(port, c.bytes, { halfClose: c.ending === 'halfClose', resetAfterSend: c.ending === 'reset', guardMs: 10_000 })
}

describe(`a barrage of ${cases} malformed requests (seed ${seed})`, () => {
  it('leaves the server answering, and never lets a request without the token reach the API', { timeout: 120_000 }, async () => {
    const dice = new Dice(prng(seed))
    const all = Array.from({ length: cases }, () => makeCase(dice, server.port, server.token))
    const replies: RawReply[] = []
    for (let start = 0; start < all.length; start += parallel) {
      replies.push(...(await Promise.all(all.slice(start, start + parallel).map((c) => send(c, server.port)))))
    }

    const statusCounts = new Map<number, number>()
    const breaches: string[] = []
    replies.forEach((reply, i) => {
      const c = all[i]!
      for (const status of reply.statuses) statusCounts.set(status, (statusCounts.get(status) ?? 0) + 1)
      if (c.authorised) return
      // A 101 is the API (the WebSocket) answering; a 200 for an /api path would be an HTTP API answering.
      const reachedApi = reply.statuses.includes(101) || (reply.statuses.includes(200) && /api/i.test(c.target.split('?')[0] ?? ''))
      if (reachedApi) breaches.push(`seed ${seed}, case ${i}: ${reply.statuses.join(',')} for ${c.description}`)
    })
    expect(breaches).toEqual([])
    // The barrage did exercise the gate and the socket, not just the parser.
    const counts = Object.fromEntries(statusCounts)
    for (const status of [101, 200, 400, 401, 403, 404, 405]) expect(counts, `status ${status} seen`).toHaveProperty(String(status))

    const page = await rawExchange(server.port, `GET / HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nConnection: close\r\n\r\n`)
    expect(page.statuses).toEqual([200])
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/api/ws`, { headers: { authorization: `Bearer ${server.token}` } })
    const reply = await new Promise<Record<string, unknown>>((resolve, reject) => {
      ws.once('error', reject)
      ws.once('open', () => ws.send(JSON.stringify({ type: 'request', id: 1, method: 'app.info', params: {} })))
      ws.once('message', (data) => resolve(JSON.parse(String(data))))
    })
    ws.close()
    expect(reply).toMatchObject({ type: 'response', id: 1, ok: true, result: { name: 'Sorted Studio' } })
    // Nothing in the barrage made a handler fail.
    expect(logged).toEqual([])
  })
})
