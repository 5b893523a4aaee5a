/**
 * `npm run bench -- ui`: what a user waits for, with the bundled model.
 *  - ui_cold_first_token: from spawning `sorted serve` on a fresh data folder
 *    (no compiled-graph cache) to the chat page showing the first token of its
 *    first answer, in Chromium; with the phases that make it up.
 *  - ui_warm_first_token: the same again on that data folder in a new server,
 *    its graphs now in the compiled-graph cache.
 *  - ui_slider_latency: from sending engine.setExit over the WebSocket to the
 *    first token carrying the new exit, next to the token interval (the bound
 *    a per-token switch cannot beat).
 * Needs `npm run build` and resources/models/dictionary-soft.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import WebSocket from 'ws'
import { launchChromium, repoRoot, serve } from '../e2e/harness'

const modelDir = join(repoRoot, 'resources', 'models', 'dictionary-soft')
if (!existsSync(modelDir)) throw new Error(`No bundled model at ${modelDir}: run npm run recipe:default-model.`)
const root = mkdtempSync(join(tmpdir(), 'bench-ui-'))
const browser = await launchChromium()

/** From spawning `sorted serve` on `dataDir` to the chat page showing the first token of its first answer. */
async function firstTokenRun(dataDir: string, bench: string): Promise<Awaited<ReturnType<typeof serve>>> {
  const t0 = performance.now()
  const app = await serve(dataDir)
  const serveReady = performance.now() - t0
  const page = await browser.newPage()
  await page.goto(app.url)
  await page.getByTestId('composer').waitFor()
  const pageReady = performance.now() - t0
  // A server on a used data folder reopens the last chat: ask in a new one.
  if (await page.getByTestId('message-assistant').count()) {
    await page.getByTestId('new-chat').click()
    await page.getByTestId('message-assistant').first().waitFor({ state: 'detached' })
  }
  await page.getByTestId('composer').fill('Define the word river.')
  await page.getByTestId('composer').press('Enter')
  await page.locator('[data-testid="streaming-reply"] [data-exit], [data-testid="message-assistant"]').first().waitFor({ timeout: 300_000 })
  const firstToken = performance.now() - t0
  console.log(JSON.stringify({ bench, serve_ready_ms: Math.round(serveReady), page_ready_ms: Math.round(pageReady), first_token_ms: Math.round(firstToken) }))
  await page.close()
  return app
}

// A fresh data folder: the model's graphs are compiled on the way. Then the same folder
// again in a new server: they come from the compiled-graph cache.
const dataDir = join(root, 'data')
await (await firstTokenRun(dataDir, 'ui_cold_first_token')).stop()
const app = await firstTokenRun(dataDir, 'ui_warm_first_token')
await browser.close()

// ---------------------------------------------------------------- slider latency over the WebSocket

const ws = new WebSocket(`ws://127.0.0.1:${app.port}/api/ws`, {
  headers: { origin: `http://127.0.0.1:${app.port}`, authorization: `Bearer ${app.token}` },
})
await new Promise((resolve, reject) => {
  ws.once('open', resolve)
  ws.once('error', reject)
})
let nextId = 1
const waiting = new Map<number, (result: unknown) => void>()
const tokenListeners = new Set<(token: { generationId: string; exit: number; index: number }, at: number) => void>()
const doneListeners = new Set<(generationId: string) => void>()
ws.on('message', (data) => {
  const at = performance.now()
  const message = JSON.parse(String(data))
  if (message.type === 'response') waiting.get(message.id)?.(message.ok ? message.result : Promise.reject(new Error(message.error.message)))
  else if (message.type === 'event' && message.event === 'generation.token') for (const l of tokenListeners) l(message.payload, at)
  else if (message.type === 'event' && message.event === 'generation.done') for (const l of doneListeners) l(message.payload.generationId)
})
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the bench reads whatever each method answers, untyped
function call(method: string, params: unknown): Promise<any> {
  const id = nextId++
  ws.send(JSON.stringify({ type: 'request', id, method, params }))
  return new Promise((resolve) => waiting.set(id, resolve))
}

// The chat's model may still be loading (or not yet asked for) when its page has closed.
let status = await call('engine.status', {})
if (status.state !== 'ready') status = await call('engine.load', { path: modelDir })
const L: number = status.model.numLayers
const latencies: number[] = []
const intervals: number[] = []
const words = ['river', 'stone', 'light', 'music', 'garden', 'winter', 'bridge', 'forest', 'letter', 'window', 'market', 'silver']
for (const [trial, word] of words.entries()) {
  const from = trial % 2 === 0 ? L : 1
  const to = from === L ? 1 : L
  const outcome = await new Promise<{ latency: number; interval: number } | null>((resolve) => {
    let generationId = ''
    let sentAt = 0
    let last = 0
    const gaps: number[] = []
    const onToken = (token: { generationId: string; exit: number; index: number }, at: number) => {
      if (token.generationId !== generationId) return
      if (last) gaps.push(at - last)
      last = at
      if (token.index >= 3 && !sentAt) {
        sentAt = performance.now()
        void call('engine.setExit', { generationId, exit: to })
      } else if (sentAt && token.exit === to) {
        finish({ latency: at - sentAt, interval: gaps.slice(0, 3).reduce((a, b) => a + b, 0) / Math.max(1, Math.min(3, gaps.length)) })
      }
    }
    const onDone = (id: string) => id === generationId && finish(null)
    const finish = (result: { latency: number; interval: number } | null) => {
      tokenListeners.delete(onToken)
      doneListeners.delete(onDone)
      if (generationId) void call('engine.cancel', { generationId }).catch(() => {})
      resolve(result)
    }
    tokenListeners.add(onToken)
    doneListeners.add(onDone)
    void call('engine.generate', { prompt: `${word} (noun):`, exit: from, maxNewTokens: 64 }).then((r) => (generationId = r.generationId))
  })
  if (outcome) {
    latencies.push(outcome.latency)
    intervals.push(outcome.interval)
  }
  await new Promise((r) => setTimeout(r, 100))
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN
console.log(
  JSON.stringify({
    bench: 'ui_slider_latency',
    trials: latencies.length,
    median_ms: Number(median(latencies).toFixed(1)),
    max_ms: Number(Math.max(...latencies).toFixed(1)),
    token_interval_ms: Number(median(intervals).toFixed(1)),
    latency_over_token_interval: Number((median(latencies) / median(intervals)).toFixed(2)),
  }),
)
ws.close()
await app.stop()
rmSync(root, { recursive: true, force: true })
