/**
 * `npm run bench -- api`: the OpenAI-compatible API under load, on the
 * bundled model, with `sorted serve --api` in its own process (as users run
 * it) and the official `openai` client.
 *  - api_concurrent_streams: 8 clients streaming chat completions at once,
 *    a few requests each: aggregate tokens/s over the wall time, and time to
 *    first token (request sent → first content chunk) p50/p95. The engine
 *    runs one generation at a time, so a client's first token includes its
 *    wait in the queue.
 *    Next to it, the same requests from one client in sequence.
 *  - meanwhile, settings.get round trips over the UI's WebSocket every 20 ms:
 *    p50/p95/max, the UI's responsiveness while the API streams (aim: p95 < 50 ms).
 * Needs `npm run build` and resources/models/dictionary-soft.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import OpenAI from 'openai'
import WebSocket from 'ws'
import { repoRoot, serve } from '../e2e/harness'

const clients = 8
const requestsPerClient = 3
const maxTokens = 96
const words = ['river', 'apple', 'mountain', 'lantern', 'harbor', 'meadow', 'engine', 'violin', 'thunder', 'garden', 'anchor', 'pepper']

if (!existsSync(join(repoRoot, 'resources', 'models', 'dictionary-soft'))) throw new Error('No bundled model: run npm run recipe:default-model.')
if (!existsSync(join(repoRoot, 'out', 'main', 'cli.js'))) throw new Error('No build in out/: run npm run build first.')
const root = mkdtempSync(join(tmpdir(), 'bench-api-'))
const app = await serve(join(root, 'data'), ['--api', '--no-api-key'])
for (let waited = 0; !app.output().includes('OpenAI-compatible API:') && waited < 10_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50))
const client = new OpenAI({ baseURL: `http://127.0.0.1:${app.port}/v1`, apiKey: 'unused', maxRetries: 0 })

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN
}

// Warm-up: loads the model and compiles its graphs, outside the figures.
await client.chat.completions.create({ model: 'dictionary-soft', messages: [{ role: 'user', content: 'Define the word warm.' }], max_tokens: 8 })

// ---------------------------------------------------------------- the UI socket, polled meanwhile

const ws = new WebSocket(`ws://127.0.0.1:${app.port}/api/ws`, { headers: { authorization: `Bearer ${app.token}` } })
await new Promise((resolve, reject) => {
  ws.once('open', resolve)
  ws.once('error', reject)
})
const pendingCalls = new Map<number, number>()
const settingsLatencies: number[] = []
ws.on('message', (data) => {
  const message = JSON.parse(String(data)) as { type: string; id?: number }
  if (message.type !== 'response' || message.id === undefined) return
  const sent = pendingCalls.get(message.id)
  if (sent === undefined) return
  pendingCalls.delete(message.id)
  settingsLatencies.push(performance.now() - sent)
})
let nextId = 0
const pollEvery20ms = () =>
  setInterval(() => {
    const id = nextId++
    pendingCalls.set(id, performance.now())
    ws.send(JSON.stringify({ type: 'request', id, method: 'settings.get' }))
  }, 20)

// The same calls with the engine idle, for reference: on a shared machine the
// difference is what the streams cost the UI.
let poll = pollEvery20ms()
await new Promise((resolve) => setTimeout(resolve, 2000))
clearInterval(poll)
await new Promise((resolve) => setTimeout(resolve, 100))
const idleLatencies = settingsLatencies.splice(0)
poll = pollEvery20ms()

// ---------------------------------------------------------------- 8 streaming clients

const firstTokenMs: number[] = []
let completionTokens = 0
async function runClient(index: number): Promise<void> {
  for (let r = 0; r < requestsPerClient; r++) {
    const word = words[(index * requestsPerClient + r) % words.length]!
    const sent = performance.now()
    let first: number | undefined
    const stream = await client.chat.completions.create({
      model: 'dictionary-soft',
      messages: [{ role: 'user', content: `Define the word "${word}".` }],
      temperature: 0.8,
      seed: index * 100 + r,
      max_tokens: maxTokens,
      stream: true,
      stream_options: { include_usage: true },
    })
    for await (const chunk of stream) {
      if (first === undefined && chunk.choices[0]?.delta.content) first = performance.now() - sent
      if (chunk.usage) completionTokens += chunk.usage.completion_tokens
    }
    if (first !== undefined) firstTokenMs.push(first)
  }
}

const start = performance.now()
await Promise.all(Array.from({ length: clients }, (_, i) => runClient(i)))
const wallMs = performance.now() - start
clearInterval(poll)
ws.close()

// The same 24 requests from one client, one after another: what the engine
// does without concurrency, so the figure above can be read against it.
const concurrentTokens = completionTokens
const concurrentFirstTokens = firstTokenMs.splice(0)
completionTokens = 0
const sequentialStart = performance.now()
for (let i = 0; i < clients; i++) await runClient(i)
const sequentialMs = performance.now() - sequentialStart
const sequentialTokens = completionTokens
completionTokens = concurrentTokens
firstTokenMs.splice(0, firstTokenMs.length, ...concurrentFirstTokens)

console.log(
  JSON.stringify({
    bench: 'api_concurrent_streams',
    clients,
    requests: clients * requestsPerClient,
    completion_tokens: completionTokens,
    wall_ms: Math.round(wallMs),
    aggregate_tokens_per_s: +((completionTokens / wallMs) * 1000).toFixed(1),
    ttft_p50_ms: Math.round(percentile(firstTokenMs, 50)),
    ttft_p95_ms: Math.round(percentile(firstTokenMs, 95)),
    one_client_sequential_tokens_per_s: +((sequentialTokens / sequentialMs) * 1000).toFixed(1),
    ui_settings_get_idle_p95_ms: +percentile(idleLatencies, 95).toFixed(2),
    ui_settings_get_calls: settingsLatencies.length,
    ui_settings_get_p50_ms: +percentile(settingsLatencies, 50).toFixed(2),
    ui_settings_get_p95_ms: +percentile(settingsLatencies, 95).toFixed(2),
    ui_settings_get_max_ms: +Math.max(...settingsLatencies).toFixed(2),
  }),
)
await app.stop()
rmSync(root, { recursive: true, force: true })
