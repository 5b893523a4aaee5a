import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { writeRandomModel } from '../fixtures/fixtures'
import { serve } from './harness'

const root = mkdtempSync(join(tmpdir(), 'sorted-engine-server-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

describe('the engine behind the built server', () => {
  it('loads a model in its worker and streams a generation over the WebSocket', async () => {
    const modelDir = join(root, 'model')
    writeRandomModel(modelDir, { architecture: 'qwen2', layers: 2, hidden: 16, heads: 4, kvHeads: 2, intermediate: 24, vocab: 40, dtype: 'BF16', seed: 2, config: { eos_token_id: 999 } })
    const app = await serve(join(root, 'data'))
    const ws = new WebSocket(`ws://127.0.0.1:${app.port}/api/ws`, { headers: { authorization: `Bearer ${app.token}` } })
    await new Promise((resolve) => ws.once('open', resolve))
    const messages: Record<string, unknown>[] = []
    ws.on('message', (data) => messages.push(JSON.parse(String(data))))
    const reply = async (id: number) => {
      for (;;) {
        const found = messages.find((m) => m.type === 'response' && m.id === id)
        if (found) return found
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    }
    ws.send(JSON.stringify({ type: 'request', id: 1, method: 'engine.load', params: { path: modelDir } }))
    expect(await reply(1)).toMatchObject({ ok: true, result: { state: 'ready', model: { numLayers: 2, architecture: 'Qwen2ForCausalLM' } } })
    ws.send(JSON.stringify({ type: 'request', id: 2, method: 'engine.generate', params: { promptIds: [1, 2, 3], maxNewTokens: 4, exit: 1 } }))
    const { result } = (await reply(2)) as { result: { generationId: string } }
    for (;;) {
      if (messages.some((m) => m.event === 'generation.done')) break
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    const tokens = messages.filter((m) => m.event === 'generation.token').map((m) => m.payload as { generationId: string; exit: number })
    const done = messages.find((m) => m.event === 'generation.done')!.payload as { generationId: string; tokens: number[] }
    expect(done.generationId).toBe(result.generationId)
    expect(tokens).toHaveLength(4)
    expect(tokens.every((t) => t.exit === 1 && t.generationId === result.generationId)).toBe(true)
    expect(done.tokens).toHaveLength(4)
    ws.close()
    expect(await app.stop()).toBe(0)
  })
})
