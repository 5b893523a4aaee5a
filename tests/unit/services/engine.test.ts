import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { EventName, GenerationDone, GenerationToken } from '../../../src-main/api/contract'
import { ModelSession } from '../../../src-main/engine/generate/model-session'
import { openBackend, type Backend } from '../../../src-main/services/backend'
import { writeRandomModel } from '../../fixtures/fixtures'
import { sourceWorker } from '../../fixtures/workers'
import { callBackend } from '../../fixtures/backend'

const root = mkdtempSync(join(tmpdir(), 'engine-service-'))
const modelDir = join(root, 'model')
const shortDir = join(root, 'short-context')
let backend: Backend
const events: { event: EventName; payload: unknown }[] = []

beforeAll(() => {
  // A context far beyond the 2000-token answers below, so they run until cancelled.
  writeRandomModel(modelDir, { architecture: 'llama', layers: 3, hidden: 16, heads: 4, kvHeads: 2, intermediate: 24, vocab: 50, dtype: 'F32', seed: 9, config: { eos_token_id: 999, max_position_embeddings: 4096 } })
  writeRandomModel(shortDir, { architecture: 'llama', layers: 2, hidden: 16, heads: 4, kvHeads: 2, intermediate: 24, vocab: 50, dtype: 'F32', seed: 10, config: { eos_token_id: 999, max_position_embeddings: 64 } })
  backend = openBackend({
    transport: 'browser',
    dataDir: join(root, 'data'),
    log: () => {},
    // The worker runs from source through tsx, as in `npm run dev`.
    engineWorker: sourceWorker('engine-worker'),
  })
  backend.subscribe((event, payload) => events.push({ event, payload }))
})

afterAll(async () => {
  await backend.close()
  rmSync(root, { recursive: true, force: true })
})

const call = (method: string, params: unknown = {}) => callBackend(backend, method, params)

function finished(generationId: string): Promise<GenerationDone> {
  return new Promise((resolve) => {
    const stop = backend.subscribe((event, payload) => {
      if (event === 'generation.done' && (payload as GenerationDone).generationId === generationId) {
        stop()
        resolve(payload as GenerationDone)
      }
    })
  })
}

const tokensOf = (generationId: string) =>
  events.filter((e) => e.event === 'generation.token').map((e) => e.payload as GenerationToken).filter((t) => t.generationId === generationId)

describe('engine service (worker thread)', () => {
  it('refuses to generate before a model is loaded', async () => {
    const outcome = await backend.dispatch('engine.generate', { promptIds: [1, 2] })
    expect(outcome).toMatchObject({ ok: false, error: { code: 'conflict' } })
  })

  it('reports a folder that is not a model as a load error naming the file', async () => {
    const bad = join(root, 'bad')
    mkdirSync(bad)
    writeFileSync(join(bad, 'config.json'), '{ not json')
    const status = await call('engine.load', { path: bad })
    expect(status.state).toBe('error')
    expect(String(status.error)).toContain(join(bad, 'config.json'))
  })

  it('loads a model folder with progress events and reports its exits', async () => {
    const status = await call('engine.load', { path: modelDir })
    expect(status).toMatchObject({ state: 'ready', model: { numLayers: 3, contextLength: 4096, exits: [1, 2, 3], hasTokenizer: false, provider: 'cpu' } })
    const progress = events.filter((e) => e.event === 'engine.status').map((e) => (e.payload as { state: string }).state)
    expect(progress).toContain('loading')
  })

  it('streams tokens with their exit, then a summary', async () => {
    const { generationId } = (await call('engine.generate', { promptIds: [3, 1, 4, 1, 5], maxNewTokens: 6, exit: 2 })) as { generationId: string }
    const done = await finished(generationId)
    expect(done.finishReason).toBe('length')
    expect(done.tokens).toHaveLength(6)
    expect(tokensOf(generationId).map((t) => [t.id, t.exit])).toEqual(done.tokens.map((id) => [id, 2]))
  })

  it('changes the exit of a running generation from a later token on, exactly as a schedule would', async () => {
    const { generationId } = (await call('engine.generate', { promptIds: [3, 1, 4, 1, 5], maxNewTokens: 2000, exit: 1 })) as { generationId: string }
    // Raise the exit after the first token; once a token comes from the new exit, stop.
    let raised = false
    const stop = backend.subscribe((event, payload) => {
      const token = payload as GenerationToken
      if (event !== 'generation.token' || token.generationId !== generationId) return
      if (!raised) {
        raised = true
        void call('engine.setExit', { generationId, exit: 3 })
      } else if (token.exit === 3) void call('engine.cancel', { generationId }).catch(() => {})
    })
    const done = await finished(generationId)
    stop()
    expect(done.finishReason).toBe('cancelled')
    const switchAt = done.exits.indexOf(3)
    expect(switchAt).toBeGreaterThan(0)
    expect(done.exits).toEqual(done.exits.map((_, i) => (i < switchAt ? 1 : 3)))
    // The same schedule run directly in this thread gives the same tokens.
    const session = await ModelSession.open(modelDir)
    const direct = await session.generate({ input: { promptIds: [3, 1, 4, 1, 5] }, maxNewTokens: done.tokens.length, exitAt: (i) => done.exits[i]! })
    await session.release()
    expect(done.tokens).toEqual(direct.tokens)
  })

  it('mode exact gives the full model\'s tokens, every one at the full depth, with the draft counts', async () => {
    const full = await finished(((await call('engine.generate', { promptIds: [3, 1, 4, 1, 5], maxNewTokens: 12 })) as { generationId: string }).generationId)
    const { generationId } = (await call('engine.generate', { promptIds: [3, 1, 4, 1, 5], maxNewTokens: 12, mode: 'exact' })) as { generationId: string }
    const exact = await finished(generationId)
    expect(exact.tokens).toEqual(full.tokens)
    expect(exact.exits).toEqual(full.tokens.map(() => 3))
    expect(exact.drafted).toBeGreaterThan(0)
    expect(tokensOf(generationId).filter((t) => t.drafted)).toHaveLength(exact.accepted!)
  })

  it('a layer stop leaves Exact for that exit mid-answer, as a schedule would', async () => {
    const { generationId } = (await call('engine.generate', { promptIds: [3, 1, 4, 1, 5], maxNewTokens: 2000, mode: 'exact' })) as { generationId: string }
    let moved = false
    const stop = backend.subscribe((event, payload) => {
      const token = payload as GenerationToken
      if (event !== 'generation.token' || token.generationId !== generationId) return
      if (!moved) {
        moved = true
        void call('engine.setExit', { generationId, exit: 1 })
      } else if (token.exit === 1) void call('engine.cancel', { generationId }).catch(() => {})
    })
    const done = await finished(generationId)
    stop()
    const switchAt = done.exits.indexOf(1)
    expect(switchAt).toBeGreaterThan(0)
    expect(done.exits).toEqual(done.exits.map((_, i) => (i < switchAt ? 3 : 1)))
    const session = await ModelSession.open(modelDir)
    const direct = await session.generate({ input: { promptIds: [3, 1, 4, 1, 5] }, maxNewTokens: done.tokens.length, exitAt: (i) => done.exits[i]! })
    await session.release()
    expect(done.tokens).toEqual(direct.tokens)
  })

  it('cancels a generation', async () => {
    const { generationId } = (await call('engine.generate', { promptIds: [1, 2, 3], maxNewTokens: 2000 })) as { generationId: string }
    await call('engine.cancel', { generationId })
    const done = await finished(generationId)
    expect(done.finishReason).toBe('cancelled')
    expect(done.tokens.length).toBeLessThan(2000)
  })

  it('validates requests: one prompt form, exits within the model', async () => {
    expect(await backend.dispatch('engine.generate', { prompt: 'hi', promptIds: [1] })).toMatchObject({ ok: false, error: { code: 'invalid_params' } })
    expect(await backend.dispatch('engine.setExit', { generationId: 'nope', exit: 1 })).toMatchObject({ ok: false, error: { code: 'not_found' } })
  })

  it('refuses an exit the model does not have, naming the valid range, rather than running the full model', async () => {
    const outcome = await backend.dispatch('engine.generate', { promptIds: [1, 2], exit: 99 })
    expect(outcome).toMatchObject({ ok: false, error: { code: 'invalid_params', message: 'exit 99 is outside 1..3', issues: [{ path: 'exit' }] } })
  })

  it('refuses a text prompt longer than a chat message may be, before tokenizing it', async () => {
    const outcome = await backend.dispatch('engine.generate', { prompt: 'x'.repeat(100_001) })
    expect(outcome).toMatchObject({ ok: false, error: { code: 'invalid_params', issues: [{ path: 'prompt' }] } })
  })

  describe('the context limit (max_position_embeddings 64)', () => {
    it('is reported with the loaded model', async () => {
      expect(await call('engine.load', { path: shortDir })).toMatchObject({ state: 'ready', model: { contextLength: 64 } })
    })

    it('refuses prompt ids the context cannot hold with one new token, naming the limit', async () => {
      const outcome = await backend.dispatch('engine.generate', { promptIds: Array.from({ length: 64 }, (_, i) => i % 50) })
      expect(outcome).toMatchObject({ ok: false, error: { code: 'invalid_params', issues: [{ path: 'promptIds' }] } })
      expect(outcome.ok || outcome.error.message).toBe(
        "promptIds: the prompt is 64 tokens, but this model's context is 64 tokens (from max_position_embeddings in config.json) and must leave room for at least one new token",
      )
    })

    it('stops an answer where the context ends', async () => {
      const { generationId } = (await call('engine.generate', { promptIds: Array.from({ length: 60 }, (_, i) => i % 50), maxNewTokens: 100 })) as { generationId: string }
      const done = await finished(generationId)
      expect(done).toMatchObject({ finishReason: 'length', promptTokens: 60 })
      expect(done.tokens).toHaveLength(4)
    })

    it('refuses a token id outside the vocabulary, naming it', async () => {
      const { generationId } = (await call('engine.generate', { promptIds: [1, 50] })) as { generationId: string }
      expect(await finished(generationId)).toMatchObject({ finishReason: 'error', error: "token id 50 is outside this model's vocabulary (0..49)" })
    })
  })

  describe('weight precision', () => {
    it('loads int4 weights when asked, shows the quantizing as progress, reports the precision and generates', async () => {
      const seen = events.length
      const status = await call('engine.load', { path: modelDir, weights: { precision: 'int4', blockSize: 64 } })
      expect(status).toMatchObject({ state: 'ready', model: { weights: { precision: 'int4', blockSize: 64, lmHead: 'int8' } } })
      expect(status.model).not.toHaveProperty('weightsFallbackReason')
      const messages = events.slice(seen).filter((e) => e.event === 'engine.status').map((e) => (e.payload as { message?: string }).message)
      expect(messages).toContain('Compiling layer 3 of 3 in int4 (block 64, LM head int8)')
      const { generationId } = (await call('engine.generate', { promptIds: [3, 1, 4], maxNewTokens: 4, exit: 2 })) as { generationId: string }
      expect(await finished(generationId)).toMatchObject({ finishReason: 'length', exits: [2, 2, 2, 2] })
    })

    it('loads fp32 when no precision is given', async () => {
      expect(await call('engine.load', { path: modelDir })).toMatchObject({ state: 'ready', model: { weights: { precision: 'fp32' } } })
    })

    it('refuses a precision or block size it does not offer, naming the field', async () => {
      expect(await backend.dispatch('engine.load', { path: modelDir, weights: { precision: 'int3' } })).toMatchObject({
        ok: false,
        error: { code: 'invalid_params', issues: [expect.objectContaining({ path: 'weights.precision' })] },
      })
      expect(await backend.dispatch('engine.load', { path: modelDir, weights: { precision: 'int4', blockSize: 48 } })).toMatchObject({
        ok: false,
        error: { code: 'invalid_params', issues: [expect.objectContaining({ path: 'weights.blockSize' })] },
      })
    })
  })

  it('unloads the model', async () => {
    expect(await call('engine.unload')).toEqual({ state: 'empty' })
  })
})
