/**
 * `sorted serve --api` driven by the official `openai` client, on the bundled
 * dictionary model: model ids with exits, chat and completions (plain and
 * streamed), stop sequences, seeds, usage, every error shape, and a client
 * that disconnects cancelling its generation.
 */
import { request as httpRequest } from 'node:http'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { finish, serve, type ServedApp } from './harness'

const apiLine = /^OpenAI-compatible API: (http:\/\/127\.0\.0\.1:\d+\/v1) \((?:API key: (\S+)|no API key)\)$/m
const dataRoot = mkdtempSync(join(tmpdir(), 'sorted-openai-'))

interface ApiServer {
  app: ServedApp
  baseURL: string
  key: string | undefined
  client: OpenAI
}

async function serveApi(name: string, args: string[]): Promise<ApiServer> {
  const app = await serve(join(dataRoot, name), ['--api', ...args])
  // The API line follows the listening line at once; give the pipe a moment.
  for (let waited = 0; !apiLine.test(app.output()) && waited < 10_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50))
  const match = app.output().match(apiLine)
  if (!match) throw new Error(`sorted serve --api printed no API line:\n${app.output()}`)
  const key = match[2]
  return { app, baseURL: match[1]!, key, client: new OpenAI({ baseURL: match[1]!, apiKey: key ?? 'unused', maxRetries: 0 }) }
}

let main: ApiServer
let keyless: ApiServer

beforeAll(async () => {
  main = await serveApi('main', [])
  keyless = await serveApi('keyless', ['--no-api-key', '--api-queue', '0'])
}, 60_000)

afterAll(async () => {
  await main?.app.stop()
  await keyless?.app.stop()
  rmSync(dataRoot, { recursive: true, force: true })
})

const ask = [{ role: 'user' as const, content: 'Define the word "apple".' }]

/** Waits for the `generation.done` the UI socket sees for a generation matching `pick`. */
function watchDone(app: ServedApp, pick: (done: { finishReason: string; tokens: number[] }) => boolean): { ready: Promise<void>; done: Promise<{ finishReason: string; tokens: number[] }>; close(): void } {
  const ws = new WebSocket(`ws://127.0.0.1:${app.port}/api/ws`, { headers: { authorization: `Bearer ${app.token}` } })
  const ready = new Promise<void>((resolve) => ws.once('open', () => resolve()))
  const done = new Promise<{ finishReason: string; tokens: number[] }>((resolve) => {
    ws.on('message', (data) => {
      const message = JSON.parse(String(data)) as { type: string; event?: string; payload?: { finishReason: string; tokens: number[] } }
      if (message.type === 'event' && message.event === 'generation.done' && pick(message.payload!)) resolve(message.payload!)
    })
  })
  return { ready, done, close: () => ws.close() }
}

describe('sorted serve --api', { timeout: 60_000 }, () => {
  it('prints the API line after the listening line, and keeps the generated key owner-only in the data folder', () => {
    const lines = main.app.output().split('\n')
    const listening = lines.findIndex((line) => line.startsWith('Sorted Studio listening on'))
    expect(lines[listening + 1]).toMatch(apiLine)
    expect(main.key).toMatch(/^sk-sorted-/)
    expect(main.key).not.toBe(main.app.token)
    expect(statSync(join(dataRoot, 'main', 'api-key')).mode & 0o777).toBe(0o600)
    expect(keyless.app.output()).toMatch(/\(no API key\)$/m)
  })

  it('lists every library model at full depth and at each exit, and retrieves one', async () => {
    const ids = (await main.client.models.list()).data.map((m) => m.id)
    expect(ids).toEqual(expect.arrayContaining(['dictionary-soft', 'dictionary-soft@1', 'dictionary-soft@8', 'dictionary-sft']))
    // The engine offers Exact and Auto for every model with an exit below its full depth.
    expect(ids).toEqual(expect.arrayContaining(['dictionary-soft@exact', 'dictionary-soft@auto']))
    const model = await main.client.models.retrieve('dictionary-soft@4')
    expect(model).toMatchObject({ id: 'dictionary-soft@4', object: 'model', owned_by: 'sorted-studio' })
  })

  it('NAME@exact answers with the full model\'s text (greedy), drafted and verified', async () => {
    const full = await main.client.chat.completions.create({ model: 'dictionary-soft', messages: ask, temperature: 0, max_tokens: 40 })
    const exact = await main.client.chat.completions.create({ model: 'dictionary-soft@exact', messages: ask, temperature: 0, max_tokens: 40 })
    expect(exact.choices[0]!.message.content).toBe(full.choices[0]!.message.content)
    expect((exact as unknown as { sorted: { exits: number[] } }).sorted.exits.every((e) => e === 8)).toBe(true)
  })

  it('answers a chat, and the streamed answer at temperature 0 is the same text with the same usage', async () => {
    const plain = await main.client.chat.completions.create({ model: 'dictionary-soft@6', messages: ask, temperature: 0, max_tokens: 40 })
    const text = plain.choices[0]!.message.content!
    expect(text.length).toBeGreaterThan(0)
    expect(plain.usage!.total_tokens).toBe(plain.usage!.prompt_tokens + plain.usage!.completion_tokens)
    const exits = (plain as unknown as { sorted: { exits: number[] } }).sorted.exits
    expect(exits).toHaveLength(plain.usage!.completion_tokens)
    expect(new Set(exits)).toEqual(new Set([6]))

    const stream = await main.client.chat.completions.create({ model: 'dictionary-soft@6', messages: ask, temperature: 0, max_tokens: 40, stream: true, stream_options: { include_usage: true } })
    let streamed = ''
    let first: string | undefined
    const finishes: (string | null)[] = []
    let usage: OpenAI.CompletionUsage | null | undefined
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage
      const choice = chunk.choices[0]
      if (!choice) continue
      first ??= choice.delta.role
      finishes.push(choice.finish_reason)
      streamed += choice.delta.content ?? ''
    }
    expect(first).toBe('assistant')
    expect(streamed).toBe(text)
    expect(finishes.slice(0, -1).every((reason) => reason === null)).toBe(true)
    expect(finishes.at(-1)).toBe(plain.choices[0]!.finish_reason)
    expect(usage).toEqual(plain.usage)
  })

  it('completes a prompt, capped by max_tokens', async () => {
    const completion = await main.client.completions.create({ model: 'dictionary-soft', prompt: 'apple:', max_tokens: 5, temperature: 0 })
    expect(completion.object).toBe('text_completion')
    expect(completion.usage!.completion_tokens).toBeLessThanOrEqual(5)
    expect(['stop', 'length']).toContain(completion.choices[0]!.finish_reason)
  })

  it('stops where a stop sequence begins, streamed or not', async () => {
    const base = { model: 'dictionary-soft', messages: ask, temperature: 0, max_tokens: 40 } as const
    const full = (await main.client.chat.completions.create(base)).choices[0]!.message.content!
    const words = full.split(' ')
    expect(words.length).toBeGreaterThan(3)
    const stop = ` ${words[2]}`
    const expected = full.slice(0, full.indexOf(stop))
    const cut = await main.client.chat.completions.create({ ...base, stop: [stop] })
    expect(cut.choices[0]!.message.content).toBe(expected)
    expect(cut.choices[0]!.finish_reason).toBe('stop')
    let streamed = ''
    for await (const chunk of await main.client.chat.completions.create({ ...base, stop, stream: true })) streamed += chunk.choices[0]?.delta.content ?? ''
    expect(streamed).toBe(expected)
  })

  it('reproduces a sampled answer from its seed', async () => {
    const sample = async () => (await main.client.chat.completions.create({ model: 'dictionary-soft@3', messages: ask, temperature: 1.2, top_p: 0.95, seed: 1234, max_tokens: 30 })).choices[0]!.message.content
    expect(await sample()).toBe(await sample())
  })

  it('answers errors in OpenAI shape: unknown model 404, bad field 400, wrong key 401, foreign origin 403', async () => {
    await expect(main.client.chat.completions.create({ model: 'dictionary-soft@99', messages: ask })).rejects.toMatchObject({ status: 404, code: 'model_not_found', param: 'model' })
    await expect(main.client.chat.completions.create({ model: 'dictionary-soft', messages: ask, n: 2 })).rejects.toMatchObject({ status: 400, param: 'n' })
    const wrongKey = new OpenAI({ baseURL: main.baseURL, apiKey: 'sk-not-the-key', maxRetries: 0 })
    await expect(wrongKey.models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError)
    const fromPage = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(`${main.baseURL}/models`, { headers: { authorization: `Bearer ${main.key}`, origin: 'https://example.com' } }, (res) => {
        let body = ''
        res.on('data', (c) => (body += c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      })
      req.on('error', reject)
      req.end()
    })
    expect(fromPage.status).toBe(403)
    expect(JSON.parse(fromPage.body)).toMatchObject({ error: { code: 'origin_not_allowed', type: 'invalid_request_error' } })
  })

  // Seed 6 makes dictionary-soft@1 write past 600 tokens (a long answer to interrupt), reproducibly.
  const long = { model: 'dictionary-soft@1', prompt: 'The', temperature: 1.5, seed: 6, max_tokens: 600 } as const

  it('cancels the generation of a client that disconnects mid-stream', async () => {
    const watch = watchDone(main.app, (done) => done.finishReason === 'cancelled')
    await watch.ready
    const controller = new AbortController()
    const stream = await main.client.completions.create({ ...long, stream: true }, { signal: controller.signal })
    let chunks = 0
    try {
      for await (const chunk of stream) {
        if (chunk.choices[0]?.text) chunks++
        if (chunks === 2) {
          controller.abort()
          // Chunks already received stay readable after the abort: stop reading, as a client that went away would.
          break
        }
      }
    } catch {
      // The client reports its own abort; whether it throws is its business.
    }
    expect(chunks).toBe(2)
    const done = await watch.done
    watch.close()
    expect(done.tokens.length).toBeLessThan(600)
  })

  it('keyless on loopback; with no room to wait, a second request while one runs gets 429 with Retry-After', async () => {
    const first = await keyless.client.completions.create({ ...long, stream: true })
    const iterator = first[Symbol.asyncIterator]()
    await iterator.next()
    const refused = await keyless.client.completions.create({ model: 'dictionary-soft', prompt: 'x', max_tokens: 2 }).catch((error: unknown) => error)
    expect(refused).toBeInstanceOf(OpenAI.RateLimitError)
    expect((refused as InstanceType<typeof OpenAI.RateLimitError>).headers.get('retry-after')).toMatch(/^\d+$/)
    first.controller.abort()
  })
})

describe('sorted serve --api flags', { timeout: 60_000 }, () => {
  it('refuses API flags without --api, a short key, and --host without a key, naming the flag', async () => {
    const cases: [string[], string][] = [
      [['--api-key', 'sk-some-long-key'], '--api-key needs --api'],
      [['--api', '--api-key', 'short'], '--api-key must be at least 8 characters'],
      [['--api', '--api-key', 'sk-some-long-key', '--no-api-key'], 'cannot be given together'],
      [['--api', '--no-api-key', '--host', '0.0.0.0'], '--host needs an API key'],
      [['--api', '--api-origin', 'not a url'], '--api-origin must be an origin'],
      [['--api', '--api-queue', '1.5'], '--api-queue must be a whole number'],
    ]
    for (const [args, message] of cases) {
      const result = await finish(['serve', '--port', '0', '--data-dir', join(dataRoot, 'flags'), ...args])
      expect(result.code, args.join(' ')).toBe(2)
      expect(result.stderr, args.join(' ')).toContain(message)
    }
  })
})

/** One contract call over the UI's WebSocket. */
async function uiCall<T>(app: ServedApp, method: string, params: unknown = {}): Promise<T> {
  const ws = new WebSocket(`ws://127.0.0.1:${app.port}/api/ws`, { headers: { authorization: `Bearer ${app.token}` } })
  await new Promise((resolve, reject) => {
    ws.once('open', resolve)
    ws.once('error', reject)
  })
  const reply = new Promise<{ ok: boolean; result?: T; error?: unknown }>((resolve) =>
    ws.on('message', (data) => {
      const message = JSON.parse(String(data)) as { type: string; id?: number; ok: boolean; result?: T; error?: unknown }
      if (message.type === 'response' && message.id === 1) resolve(message)
    }),
  )
  ws.send(JSON.stringify({ type: 'request', id: 1, method, params }))
  const outcome = await reply
  ws.close()
  if (!outcome.ok) throw new Error(JSON.stringify(outcome.error))
  return outcome.result!
}

describe('Settings turns /v1 on in browser mode', { timeout: 60_000 }, () => {
  it('serves /v1 on the same server once turned on, keeps it across restarts, and the two secrets stay apart', async () => {
    const dataDir = join(dataRoot, 'from-settings')
    let app = await serve(dataDir)
    try {
      const before = await fetch(`http://127.0.0.1:${app.port}/v1/models`)
      expect(before.status).not.toBe(200)
      const state = await uiCall<{ state: string; url: string; key: string }>(app, 'localApi.configure', { enabled: true })
      expect(state).toMatchObject({ state: 'on', url: `http://127.0.0.1:${app.port}/v1` })
      const client = new OpenAI({ baseURL: state.url, apiKey: state.key, maxRetries: 0 })
      expect((await client.models.list()).data.length).toBeGreaterThan(0)
      // The API key does not open the app's socket.
      const refused = await new Promise<number>((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${app.port}/api/ws`, { headers: { authorization: `Bearer ${state.key}` } })
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
        ws.on('open', () => resolve(200))
        ws.on('error', () => {})
      })
      expect(refused).toBe(401)
      await app.stop()
      app = await serve(dataDir)
      for (let waited = 0; !apiLine.test(app.output()) && waited < 10_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50))
      expect(app.output()).toContain(`OpenAI-compatible API: http://127.0.0.1:${app.port}/v1 (API key: ${state.key})`)
    } finally {
      await app.stop()
    }
  })
})
