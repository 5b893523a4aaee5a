/**
 * A very long message against the built server: it is refused with the
 * model's context named (nothing stored), and while the engine is busy with
 * it the server's WebSocket keeps answering another client.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { serve } from './harness'

const root = mkdtempSync(join(tmpdir(), 'sorted-long-prompt-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

interface Response {
  type: 'response'
  id: number
  ok: boolean
  result?: Record<string, unknown>
  error?: { code: string; message: string; issues?: { path: string }[] }
}

/** A WebSocket client that sends requests and resolves each with its response. */
async function client(port: number, token: string) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/api/ws`, { headers: { authorization: `Bearer ${token}` } })
  await new Promise((resolve, reject) => {
    ws.once('open', resolve)
    ws.once('error', reject)
  })
  const waiting = new Map<number, (response: Response) => void>()
  const events: string[] = []
  ws.on('message', (data) => {
    const message = JSON.parse(String(data)) as Response & { event?: string }
    if (message.type === 'response') waiting.get(message.id)?.(message)
    else if (message.event) events.push(message.event)
  })
  let next = 1
  return {
    request(method: string, params: unknown = {}): Promise<Response> {
      const id = next++
      const answered = new Promise<Response>((resolve) => waiting.set(id, resolve))
      ws.send(JSON.stringify({ type: 'request', id, method, params }))
      return answered
    },
    async event(name: string): Promise<void> {
      while (!events.includes(name)) await new Promise((resolve) => setTimeout(resolve, 20))
    },
    close: () => ws.close(),
  }
}

describe('a very long message', () => {
  it('is refused naming the context, stores nothing, and another client is answered meanwhile', { timeout: 120_000 }, async () => {
    const app = await serve(join(root, 'data'))
    const writer = await client(app.port, app.token)
    const reader = await client(app.port, app.token)
    const created = await writer.request('chats.create', { settings: { maxNewTokens: 4 } })
    const chatId = (created.result!.chat as { id: string }).id
    // The largest message the contract allows: ~20,000 words, far over the bundled model's 1024 tokens.
    const words = ['river', 'stone', 'light', 'music', 'apple']
    const content = Array.from({ length: 16_600 }, (_, i) => words[i % words.length]).join(' ').slice(0, 100_000)

    const refused = writer.request('chats.send', { chatId, content })
    const listed = reader.request('models.list')
    const [refusal, list] = await Promise.all([refused, listed])

    expect(list.ok).toBe(true)
    expect((list.result!.models as unknown[]).length).toBeGreaterThan(0)
    expect(refusal).toMatchObject({ ok: false, error: { code: 'invalid_params', issues: [{ path: 'content' }] } })
    expect(refusal.error!.message).toMatch(/^content: .* comes to \d+ tokens, but this model's context is 1024 tokens \(from max_position_embeddings in config\.json\)/)
    expect((await reader.request('chats.get', { chatId })).result!.messages).toEqual([])
    // The server and its engine still work: a short message is answered.
    expect((await writer.request('chats.send', { chatId, content: 'Define the word river.' })).ok).toBe(true)
    await writer.event('chat.replyDone')
    writer.close()
    reader.close()
    expect(await app.stop()).toBe(0)
  })
})
