/**
 * The /v1 routes over a fake LocalApiService: the OpenAI wire format (SSE
 * chunks, error shapes), the API's own gate (key, origins, Host), body limits,
 * and a client that disconnects cancelling its generation.
 */
import { request as httpRequest } from 'node:http'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { GenerationDone } from '../../../src-main/api/contract'
import type { Backend } from '../../../src-main/services/backend'
import { QueueFullError } from '../../../src-main/services/generation-queue'
import type { ApiGeneration, ApiModel, GenerationListener } from '../../../src-main/services/local-api'
import type { OpenAiBackend } from '../../../src-main/server/openai/router'
import { startServer, type RunningServer } from '../../../src-main/server/server'
import { SseWriter } from '../../../src-main/server/openai/sse'
import { StopHoldback } from '../../../src-main/server/openai/stop-holdback'

const key = 'sk-test-key-123456'
const model: ApiModel = { id: 'tiny@2', libraryId: 'bundled:tiny', path: '/models/tiny', budget: { kind: 'exit', exit: 2 }, numLayers: 4, created: 1, source: 'bundled' }

/** Plays a fixed answer token by token, one per macrotask, unless told to hold or refuse. */
class FakeApi implements OpenAiBackend {
  pieces = ['Hel', 'lo', ' wor', 'ld', '.']
  full = false
  hold = false
  readonly cancelled: string[] = []
  readonly started: ApiGeneration[] = []
  private next = 0

  models(): ApiModel[] {
    return [model]
  }

  find(id: string): ApiModel | undefined {
    return id === model.id ? model : undefined
  }

  start(generation: ApiGeneration, listener: GenerationListener): { generationId: string; cancel(): void } {
    if (this.full) throw new QueueFullError(16, 3)
    this.started.push(generation)
    const generationId = `g${this.next++}`
    let stopped = false
    const end = (finishReason: GenerationDone['finishReason'], text: string, count: number) =>
      listener.done({ generationId, finishReason, text, tokens: Array.from({ length: count }, (_, i) => i), exits: Array.from({ length: count }, () => 2), promptTokens: 7, prefillMs: 1, decodeTokensPerSecond: 100 })
    const play = async () => {
      let text = ''
      for (const [index, piece] of this.pieces.entries()) {
        await new Promise((resolve) => setTimeout(resolve, 1))
        if (stopped) return end('cancelled', text, index)
        text += piece
        listener.token({ generationId, index, id: index, text: piece, exit: 2 })
      }
      while (this.hold && !stopped) await new Promise((resolve) => setTimeout(resolve, 5))
      if (stopped) return end('cancelled', text, this.pieces.length)
      end('eos', text, this.pieces.length + 1)
    }
    void play()
    return {
      generationId,
      cancel: () => {
        stopped = true
        this.cancelled.push(generationId)
      },
    }
  }
}

const noBackend: Backend = { dataDir: '/nowhere', dispatch: async () => ({ ok: true, result: {} }), subscribe: () => () => {}, close: async () => {} }
let root: string
const api = new FakeApi()
let server: RunningServer
let keyless: RunningServer

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'openai-router-'))
  mkdirSync(join(root, 'renderer'))
  writeFileSync(join(root, 'renderer', 'index.html'), '<!doctype html>')
  server = await startServer({ backend: noBackend, rendererDir: join(root, 'renderer'), port: 0, openai: { api, key, allowedOrigins: ['http://localhost:5173'] } })
  keyless = await startServer({ backend: noBackend, rendererDir: join(root, 'renderer'), port: 0, openai: { api, key: undefined, allowedOrigins: [] } })
})

afterAll(async () => {
  await server.close()
  await keyless.close()
  rmSync(root, { recursive: true, force: true })
})

interface Reply {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

function send(method: string, path: string, options: { body?: string; headers?: Record<string, string>; port?: number } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: options.port ?? server.port, method, path, headers: { authorization: `Bearer ${key}`, ...options.headers } }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk) => (body += chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    })
    req.on('error', reject)
    req.end(options.body)
  })
}

const post = (path: string, body: unknown, headers: Record<string, string> = {}) => send('POST', path, { body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } })
const chat = (extra: Record<string, unknown> = {}) => ({ model: 'tiny@2', messages: [{ role: 'user', content: 'hi' }], ...extra })
const errorOf = (reply: Reply) => (JSON.parse(reply.body) as { error: { message: string; type: string; param: string | null; code: string | null } }).error

function events(body: string): unknown[] {
  return body
    .split('\n\n')
    .filter((block) => block.startsWith('data: '))
    .map((block) => block.slice('data: '.length))
    .map((data) => (data === '[DONE]' ? '[DONE]' : JSON.parse(data)))
}

describe('the /v1 wire format', () => {
  it('streams chunks: the first delta carries the role, finish_reason null until the last, the usage chunk, then [DONE]', async () => {
    const reply = await post('/v1/chat/completions', chat({ stream: true, stream_options: { include_usage: true } }))
    expect(reply.status).toBe(200)
    expect(reply.headers['content-type']).toContain('text/event-stream')
    const chunks = events(reply.body)
    expect(chunks.at(-1)).toBe('[DONE]')
    const data = chunks.slice(0, -1) as { object: string; choices: { delta: { role?: string; content?: string }; finish_reason: string | null }[]; usage: unknown; sorted?: { exits: number[] } }[]
    expect(data.every((c) => c.object === 'chat.completion.chunk')).toBe(true)
    expect(data[0]!.choices[0]!.delta.role).toBe('assistant')
    const withChoices = data.filter((c) => c.choices.length > 0)
    expect(withChoices.slice(0, -1).every((c) => c.choices[0]!.finish_reason === null)).toBe(true)
    expect(withChoices.at(-1)!.choices[0]!.finish_reason).toBe('stop')
    expect(withChoices.map((c) => c.choices[0]!.delta.content ?? '').join('')).toBe('Hello world.')
    expect(withChoices.flatMap((c) => c.sorted?.exits ?? [])).toEqual([2, 2, 2, 2, 2])
    expect(data.at(-1)).toMatchObject({ choices: [], usage: { prompt_tokens: 7, completion_tokens: 6, total_tokens: 13 } })
  })

  it('answers a plain request with the whole message, usage and the exits of every token', async () => {
    const reply = await post('/v1/chat/completions', chat())
    expect(JSON.parse(reply.body)).toMatchObject({
      object: 'chat.completion',
      model: 'tiny@2',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hello world.' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 7, completion_tokens: 6, total_tokens: 13 },
      sorted: { exit: 2, exits: [2, 2, 2, 2, 2, 2], tokens_per_second: 100 },
    })
  })

  it('passes the sampling fields and stops to the generation', async () => {
    await post('/v1/completions', { model: 'tiny@2', prompt: 'x', max_tokens: 5, temperature: 0.5, top_p: 0.9, top_k: 40, repetition_penalty: 1.1, seed: 7, stop: '\n' })
    expect(api.started.at(-1)).toMatchObject({ input: { prompt: 'x' }, maxNewTokens: 5, stopStrings: ['\n'], sampling: { temperature: 0.5, topP: 0.9, topK: 40, repetitionPenalty: 1.1, seed: 7 } })
  })

  it('refuses bad fields with a 400 naming them, in OpenAI error shape', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [chat({ n: 2 }), 'n'],
      [chat({ temperature: 'hot' }), 'temperature'],
      [chat({ messages: [{ role: 'robot', content: 'x' }] }), 'messages[0].role'],
      [chat({ stop: ['a', 'b', 'c', 'd', 'e'] }), 'stop'],
      [chat({ max_tokens: 0 }), 'max_tokens'],
      [chat({ tools: [{ type: 'function' }] }), 'tools'],
      [{ messages: [{ role: 'user', content: 'x' }] }, 'model'],
    ]
    for (const [body, param] of cases) {
      const reply = await post('/v1/chat/completions', body)
      expect(reply.status, param).toBe(400)
      expect(errorOf(reply), param).toMatchObject({ type: 'invalid_request_error', param })
      expect(errorOf(reply).message).toContain(param)
    }
  })

  it('answers an unknown model with 404 model_not_found, malformed JSON with 400, a huge body with 413', async () => {
    const unknown = await post('/v1/chat/completions', chat({ model: 'tiny@3' }))
    expect(unknown.status).toBe(404)
    expect(errorOf(unknown)).toMatchObject({ param: 'model', code: 'model_not_found' })
    const notJson = await send('POST', '/v1/chat/completions', { body: '{"model": ', headers: { 'content-type': 'application/json' } })
    expect(notJson.status).toBe(400)
    expect(errorOf(notJson).message).toContain('not valid JSON')
    const huge = await send('POST', '/v1/chat/completions', { body: 'x'.repeat(4 * 1024 * 1024 + 1), headers: { 'content-type': 'application/json' } })
    expect(huge.status).toBe(413)
    expect(errorOf(huge).code).toBe('request_too_large')
    expect((await send('GET', '/v1/models/nope')).status).toBe(404)
  })

  it('answers a full queue with 429 and Retry-After', async () => {
    api.full = true
    try {
      const reply = await post('/v1/chat/completions', chat())
      expect(reply.status).toBe(429)
      expect(reply.headers['retry-after']).toBe('3')
      expect(errorOf(reply).code).toBe('rate_limit_exceeded')
    } finally {
      api.full = false
    }
  })

  it('cancels the generation of a client that disconnects mid-stream', async () => {
    api.hold = true
    try {
      const before = api.cancelled.length
      await new Promise<void>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port: server.port, method: 'POST', path: '/v1/chat/completions', headers: { authorization: `Bearer ${key}` } }, (res) => {
          res.once('data', () => {
            req.destroy()
            resolve()
          })
        })
        req.on('error', () => {})
        req.on('timeout', reject)
        req.end(JSON.stringify(chat({ stream: true })))
      })
      await expect.poll(() => api.cancelled.length).toBe(before + 1)
    } finally {
      api.hold = false
    }
  })
})

describe("the API's own gate", () => {
  it('needs the key: none or a wrong one is 401 invalid_api_key; the app token is not it', async () => {
    expect((await send('GET', '/v1/models', { headers: { authorization: '' } })).status).toBe(401)
    const wrong = await send('GET', '/v1/models', { headers: { authorization: `Bearer ${server.token}` } })
    expect(wrong.status).toBe(401)
    expect(errorOf(wrong).code).toBe('invalid_api_key')
    expect((await send('GET', '/v1/models')).status).toBe(200)
  })

  it('refuses pages from origins not allowed (403), and answers preflight and CORS for allowed ones only', async () => {
    const evil = await send('GET', '/v1/models', { headers: { origin: 'https://evil.example' } })
    expect(evil.status).toBe(403)
    expect(errorOf(evil).code).toBe('origin_not_allowed')
    expect((await send('OPTIONS', '/v1/chat/completions', { headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } })).status).toBe(403)
    const preflight = await send('OPTIONS', '/v1/chat/completions', { headers: { origin: 'http://localhost:5173', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' } })
    expect(preflight.status).toBe(204)
    expect(preflight.headers['access-control-allow-origin']).toBe('http://localhost:5173')
    const allowed = await send('GET', '/v1/models', { headers: { origin: 'http://localhost:5173' } })
    expect(allowed.status).toBe(200)
    expect(allowed.headers['access-control-allow-origin']).toBe('http://localhost:5173')
    expect((await send('GET', '/v1/models')).headers['access-control-allow-origin']).toBeUndefined()
  })

  it('without a key, still refuses a Host that is not this server (DNS rebinding) and foreign origins', async () => {
    expect((await send('GET', '/v1/models', { port: keyless.port, headers: { authorization: '' } })).status).toBe(200)
    expect((await send('GET', '/v1/models', { port: keyless.port, headers: { authorization: '', host: `rebound.example:${keyless.port}` } })).status).toBe(403)
    expect((await send('GET', '/v1/models', { port: keyless.port, headers: { authorization: '', origin: 'http://rebound.example' } })).status).toBe(403)
  })
})

describe('SSE writer and stop holdback', () => {
  it('holds back text that may begin a stop string, so the streamed pieces add up to the final answer', () => {
    const holdback = new StopHoldback(['\n\n', 'END'])
    const out = ['Hi', '\n', 'there', ' E', 'N'].map((piece) => holdback.push(piece))
    expect(out).toEqual(['Hi', '', '\nthere', ' ', ''])
    // The engine found "END" and cut the answer there.
    expect(holdback.finish('Hi\nthere ')).toBe('')
    const plain = new StopHoldback(['\n\n'])
    expect(plain.push('a\n') + plain.push('\nb')).toBe('a')
    expect(plain.finish('a')).toBe('')
  })

  it('writes data events and ends with [DONE]', () => {
    const written: string[] = []
    const fake = {
      destroyed: false,
      writableEnded: false,
      socket: null,
      headersSent: false,
      writeHead(status: number, headers: Record<string, string>) {
        written.push(`${status} ${headers['Content-Type']}`)
      },
      write(text: string) {
        written.push(text)
      },
      end(text: string) {
        written.push(text)
        this.writableEnded = true
      },
    }
    const sse = new SseWriter(fake as never)
    sse.send({ a: 1 })
    sse.done()
    sse.send({ late: true })
    expect(written).toEqual(['200 text/event-stream; charset=utf-8', 'data: {"a":1}\n\n', 'data: [DONE]\n\n'])
  })
})
