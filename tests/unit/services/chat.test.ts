import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { EventName, ModelSummary } from '../../../src-main/api/contract'
import { fitLengths } from '../../../src-main/services/chat'
import { openBackend, type Backend } from '../../../src-main/services/backend'
import { writeTinyTextModel } from '../../fixtures/fixtures'
import { sourceWorker } from '../../fixtures/workers'
import { callBackend } from '../../fixtures/backend'

const root = mkdtempSync(join(tmpdir(), 'chat-service-'))
const bundledDir = join(root, 'bundled')
const dataDir = join(root, 'data')
const engineWorker = sourceWorker('engine-worker')
let backend: Backend
const events: { event: EventName; payload: unknown }[] = []

function open(): Backend {
  const b = openBackend({ transport: 'browser', dataDir, log: () => {}, engineWorker, bundledModelsDir: bundledDir })
  b.subscribe((event, payload) => events.push({ event, payload }))
  return b
}

beforeAll(() => {
  writeTinyTextModel(join(bundledDir, 'dictionary-soft'), { seed: 3, layers: 4 })
  writeFileSync(join(bundledDir, 'dictionary-soft', 'sorted.json'), JSON.stringify({ exits: [1, 2, 4], results: { '1': { val_loss: 3.1 }, '4': { val_loss: 2.5 } } }))
  writeTinyTextModel(join(bundledDir, 'dictionary-sft'), { seed: 4, layers: 4 })
  writeTinyTextModel(join(root, 'mine'), { seed: 5, layers: 2 })
  backend = open()
})

afterAll(async () => {
  await backend.close()
  rmSync(root, { recursive: true, force: true })
})

const call = <T = Record<string, unknown>>(method: string, params: unknown = {}) => callBackend<T>(backend, method, params)

function replyDone(chatId: string): Promise<{ message?: { content: string; tokenExits: number[]; tokenLengths: number[]; exit: number } }> {
  return new Promise((resolve) => {
    const stop = backend.subscribe((event, payload) => {
      if (event === 'chat.replyDone' && (payload as { chatId: string }).chatId === chatId) {
        stop()
        resolve(payload as never)
      }
    })
  })
}

describe('model library', { timeout: 60_000 }, () => {
  it('lists the bundled models, the SoFT model first, with exits and results from sorted.json', async () => {
    const { models } = await call<{ models: ModelSummary[] }>('models.list')
    expect(models.map((m) => [m.id, m.source])).toEqual([
      ['bundled:dictionary-soft', 'bundled'],
      ['bundled:dictionary-sft', 'bundled'],
    ])
    expect(models[0]).toMatchObject({ numLayers: 4, exits: [1, 2, 4], results: { '1': { val_loss: 3.1 } } })
    expect(models[0]!.sizeBytes).toBeGreaterThan(1000)
  })

  it('refuses to remove a bundled model', async () => {
    expect(await backend.dispatch('models.remove', { modelId: 'bundled:dictionary-soft' })).toMatchObject({ ok: false, error: { code: 'conflict' } })
  })

  it('imports a folder after compiling it in a worker, with progress, and refuses it twice', async () => {
    const { model } = await call<{ model: ModelSummary }>('models.import', { path: join(root, 'mine') })
    expect(model).toMatchObject({ name: 'mine', source: 'imported', numLayers: 2 })
    const progress = events.filter((e) => e.event === 'models.importProgress').map((e) => (e.payload as { progress: number }).progress)
    expect(progress.at(-1)).toBe(1)
    expect(progress.length).toBeGreaterThan(2)
    expect(events.some((e) => e.event === 'models.changed')).toBe(true)
    expect(await backend.dispatch('models.import', { path: join(root, 'mine') })).toMatchObject({ ok: false, error: { code: 'conflict' } })
  })

  it('reports a bad folder with the file at fault and adds nothing', async () => {
    const bad = join(root, 'bad')
    mkdirSync(bad)
    writeFileSync(join(bad, 'config.json'), '{"model_type": "llama"')
    const outcome = await backend.dispatch('models.import', { path: bad })
    expect(outcome.ok).toBe(false)
    if (!outcome.ok) expect(outcome.error.message).toContain('config.json')
    const { models } = await call<{ models: ModelSummary[] }>('models.list')
    expect(models.some((m) => m.path === bad)).toBe(false)
  })

  it('exports a copy, refuses a non-empty destination, and removes an imported model', async () => {
    const { models } = await call<{ models: ModelSummary[] }>('models.list')
    const mine = models.find((m) => m.name === 'mine')!
    const to = join(root, 'exported')
    await call('models.export', { modelId: mine.id, to })
    expect(readdirSync(to).sort()).toEqual(readdirSync(join(root, 'mine')).sort())
    expect(await backend.dispatch('models.export', { modelId: mine.id, to })).toMatchObject({ ok: false, error: { code: 'invalid_params' } })

    await call('models.remove', { modelId: mine.id })
    const after = await call<{ models: ModelSummary[] }>('models.list')
    expect(after.models.some((m) => m.id === mine.id)).toBe(false)
  })
})

describe('chats', { timeout: 60_000 }, () => {
  it('creates a chat on the default model, answers, and stores the reply with its per-token exits', async () => {
    const { chat } = await call<{ chat: { id: string; modelId: string; title: string } }>('chats.create', { settings: { exit: 2, maxNewTokens: 6 } })
    expect(chat.modelId).toBe('bundled:dictionary-soft')

    const done = replyDone(chat.id)
    const sent = await call<{ generationId: string; message: { role: string; content: string } }>('chats.send', { chatId: chat.id, content: 'Define river\nplease' })
    expect(sent.message).toMatchObject({ role: 'user', content: 'Define river\nplease' })
    const { message } = await done
    expect(message!.exit).toBe(2)
    expect(message!.tokenExits.length).toBeGreaterThan(0)
    expect(message!.tokenExits.every((e) => e === 2)).toBe(true)
    expect(message!.tokenLengths.reduce((a, b) => a + b, 0)).toBe(message!.content.length)

    const stored = await call<{ chat: { title: string }; messages: { role: string }[] }>('chats.get', { chatId: chat.id })
    expect(stored.chat.title).toBe('Define river')
    expect(stored.messages.map((m) => m.role)).toEqual(['user', 'assistant'])
  })

  it('moves the budget mid-answer: later tokens carry the new exit', async () => {
    const { chat } = await call<{ chat: { id: string } }>('chats.create', { settings: { exit: 4, maxNewTokens: 40 } })
    const done = replyDone(chat.id)
    const { generationId } = await call<{ generationId: string }>('chats.send', { chatId: chat.id, content: 'Hello' })
    await new Promise<void>((resolve) => {
      const stop = backend.subscribe((event, payload) => {
        if (event === 'generation.token' && (payload as { generationId: string }).generationId === generationId) {
          stop()
          void backend.dispatch('engine.setExit', { generationId, exit: 1 }).then(() => resolve())
        }
      })
    })
    const { message } = await done
    expect(message!.tokenExits[0]).toBe(4)
    expect(message!.tokenExits.at(-1)).toBe(1)
  })

  it('regenerates an answer at another budget, replacing it', async () => {
    const { chat } = await call<{ chat: { id: string } }>('chats.create', { settings: { exit: 4, maxNewTokens: 4 } })
    let done = replyDone(chat.id)
    await call('chats.send', { chatId: chat.id, content: 'Hi' })
    const first = (await done).message!
    done = replyDone(chat.id)
    await call('chats.regenerate', { chatId: chat.id, messageId: (first as unknown as { id: string }).id, exit: 1 })
    const second = (await done).message!
    expect(second.exit).toBe(1)
    const { messages } = await call<{ messages: { id: string }[] }>('chats.get', { chatId: chat.id })
    expect(messages).toHaveLength(2)
    expect(messages[1]!.id).not.toBe((first as unknown as { id: string }).id)
  })

  it('renames, searches, configures and deletes chats; they survive a restart', async () => {
    const { chat } = await call<{ chat: { id: string } }>('chats.create', { title: 'Zebra notes' })
    await call('chats.rename', { chatId: chat.id, title: 'Zebra facts' })
    await call('chats.configure', { chatId: chat.id, systemPrompt: 'Be brief.', settings: { exit: 1, maxNewTokens: 10, sampling: { temperature: 0.7, topK: 5 } } })
    await backend.close()
    backend = open()
    const { chats } = await call<{ chats: { id: string; systemPrompt: string; settings: unknown }[] }>('chats.list', { search: 'zebra' })
    expect(chats).toHaveLength(1)
    expect(chats[0]).toMatchObject({ id: chat.id, systemPrompt: 'Be brief.', settings: { exit: 1, sampling: { temperature: 0.7, topK: 5 } } })
    await call('chats.remove', { chatId: chat.id })
    expect((await call<{ chats: unknown[] }>('chats.list', { search: 'zebra' })).chats).toHaveLength(0)
  })

  it('refuses a second message while an answer is being written', async () => {
    const { chat } = await call<{ chat: { id: string } }>('chats.create', { settings: { maxNewTokens: 30 } })
    const done = replyDone(chat.id)
    await call('chats.send', { chatId: chat.id, content: 'one' })
    expect(await backend.dispatch('chats.send', { chatId: chat.id, content: 'two' })).toMatchObject({ ok: false, error: { code: 'conflict' } })
    await done
  })

  it('checks a message against the chat\'s model even while that model is being loaded again', async () => {
    const { chat } = await call<{ chat: { id: string; modelId: string } }>('chats.create', { settings: { maxNewTokens: 4 } })
    const { models } = await call<{ models: ModelSummary[] }>('models.list')
    const reloading = call('engine.load', { path: models.find((m) => m.id === chat.modelId)!.path })
    const done = replyDone(chat.id)
    expect(await backend.dispatch('chats.send', { chatId: chat.id, content: 'Hello' })).toMatchObject({ ok: true })
    await reloading
    expect((await done).message?.content).toBeTypeOf('string')
  })

  it('refuses a message longer than the model\'s context, naming the limit, and stores nothing', async () => {
    const { chat } = await call<{ chat: { id: string } }>('chats.create', { settings: { maxNewTokens: 4 } })
    const long = Array.from({ length: 400 }, (_, i) => `word${i}`).join(' ')
    const outcome = await backend.dispatch('chats.send', { chatId: chat.id, content: long })
    expect(outcome).toMatchObject({ ok: false, error: { code: 'invalid_params', issues: [{ path: 'content' }] } })
    expect(outcome.ok || outcome.error.message).toMatch(/^content: the latest message comes to \d+ tokens, but this model's context is 256 tokens \(from max_position_embeddings in config\.json\)/)
    expect((await call<{ messages: unknown[] }>('chats.get', { chatId: chat.id })).messages).toEqual([])
    // The chat still answers a message that fits.
    const done = replyDone(chat.id)
    await call('chats.send', { chatId: chat.id, content: 'Hello' })
    expect((await done).message?.content).toBeTypeOf('string')
  })

  it('leaves the oldest turns out of a conversation longer than the context, and says how many on the reply', async () => {
    const { chat } = await call<{ chat: { id: string } }>('chats.create', { settings: { maxNewTokens: 4 } })
    const words = (from: number) => Array.from({ length: 150 }, (_, i) => `word${from + i}`).join(' ')
    let done = replyDone(chat.id)
    await call('chats.send', { chatId: chat.id, content: words(0) })
    const first = (await done).message as unknown as { settings: Record<string, unknown> }
    expect(first.settings.droppedMessages).toBeUndefined()
    done = replyDone(chat.id)
    await call('chats.send', { chatId: chat.id, content: words(100) })
    const second = (await done).message as unknown as { id: string; settings: Record<string, unknown> }
    // The first question and its answer no longer fit beside the second question in 256 tokens.
    expect(second.settings.droppedMessages).toBe(2)
    done = replyDone(chat.id)
    await call('chats.regenerate', { chatId: chat.id, messageId: second.id })
    expect(((await done).message as unknown as { settings: Record<string, unknown> }).settings.droppedMessages).toBe(2)
  })
})

describe('chats in Exact and Auto mode', { timeout: 60_000 }, () => {
  type Reply = { content: string; tokenExits: number[]; exit: number; settings: Record<string, unknown> }
  async function answer(settings: Record<string, unknown>, regenerateAt?: number): Promise<Reply> {
    const { chat } = await call<{ chat: { id: string } }>('chats.create', { settings: { maxNewTokens: 12, ...settings } })
    let done = replyDone(chat.id)
    await call('chats.send', { chatId: chat.id, content: 'Define river' })
    let { message } = await done
    if (regenerateAt !== undefined) {
      done = replyDone(chat.id)
      await call('chats.regenerate', { chatId: chat.id, messageId: (message as unknown as { id: string }).id, exit: regenerateAt })
      message = (await done).message
    }
    return message as unknown as Reply
  }

  it('an Exact chat answers exactly as the full model and stores its acceptance and which tokens were accepted drafts', async () => {
    const full = await answer({})
    const exact = await answer({ mode: 'exact' })
    expect(exact.content).toBe(full.content)
    expect(exact.tokenExits.every((e) => e === 4)).toBe(true)
    expect(exact.settings).toMatchObject({ mode: 'exact', finishReason: full.settings.finishReason })
    const { drafted, accepted, draftedTokens } = exact.settings as { drafted: number; accepted: number; draftedTokens: number[] }
    expect(drafted).toBeGreaterThan(0)
    expect(accepted).toBeLessThanOrEqual(drafted)
    expect(draftedTokens).toHaveLength(accepted)
    expect(draftedTokens.every((i) => i >= 0 && i < exact.tokenExits.length)).toBe(true)
  })

  it('an Auto chat passes its τ and stores it with the reply; regenerating at an exit leaves the mode out', async () => {
    const auto = await answer({ mode: 'auto', autoTau: 0 })
    // τ 0: the first exit is always confident enough.
    expect(auto.tokenExits.every((e) => e === 1)).toBe(true)
    expect(auto.settings).toMatchObject({ mode: 'auto', autoTau: 0 })
    expect(auto.settings.drafted).toBeUndefined()

    const fixed = await answer({ mode: 'exact' }, 2)
    expect(fixed.exit).toBe(2)
    expect(fixed.tokenExits.every((e) => e === 2)).toBe(true)
    expect(fixed.settings.mode).toBeUndefined()
  })

  it('refuses a mode that is not Exact or Auto, naming the field', async () => {
    const outcome = await backend.dispatch('chats.create', { settings: { mode: 'fast' } })
    expect(outcome).toMatchObject({ ok: false, error: { code: 'invalid_params' } })
    if (!outcome.ok) expect(outcome.error.message).toContain('mode')
  })
})

describe('a model\'s precision', { timeout: 60_000 }, () => {
  it('lists each precision with its weight memory from config.json, fp32 until chosen', async () => {
    const { models } = await call<{ models: ModelSummary[] }>('models.list')
    const soft = models[0]!
    expect(soft.precision).toBe('fp32')
    expect(soft.precisions.map((p) => p.precision)).toEqual(['fp32', 'int8', 'int4'])
    const [fp32, int8, int4] = soft.precisions.map((p) => p.memoryBytes)
    expect(fp32).toBe(soft.parameters! * 4)
    expect(int8).toBeLessThan(fp32!)
    expect(int4).toBeLessThan(int8!)
  })

  it('a chat loads its model in the chosen precision; the choice is kept across a restart', async () => {
    const { model } = await call<{ model: ModelSummary }>('models.setPrecision', { modelId: 'bundled:dictionary-soft', precision: 'int8' })
    expect(model.precision).toBe('int8')
    const { chat } = await call<{ chat: { id: string } }>('chats.create', { settings: { maxNewTokens: 4 } })
    const done = replyDone(chat.id)
    await call('chats.send', { chatId: chat.id, content: 'Hello' })
    expect((await done).message?.content).toBeTypeOf('string')
    expect(await call('engine.status')).toMatchObject({ state: 'ready', model: { weights: { precision: 'int8' } } })

    await backend.close()
    backend = open()
    const { models } = await call<{ models: ModelSummary[] }>('models.list')
    expect(models.find((m) => m.id === 'bundled:dictionary-soft')?.precision).toBe('int8')
  })

  it('refuses a precision the engine does not have, naming the field', async () => {
    expect(await backend.dispatch('models.setPrecision', { modelId: 'bundled:dictionary-soft', precision: 'int2' })).toMatchObject({
      ok: false,
      error: { code: 'invalid_params', issues: [{ path: 'precision' }] },
    })
  })
})

describe('fitting streamed piece lengths to the stored text', () => {
  it('keeps exact lengths, trims a cut stop string from the end, and pads a shortfall', () => {
    expect(fitLengths([2, 3, 1], 3, 6)).toEqual([2, 3, 1])
    expect(fitLengths([2, 3, 4], 3, 6)).toEqual([2, 3, 1])
    expect(fitLengths([2, 3, 4], 3, 3)).toEqual([2, 1, 0])
    expect(fitLengths([2], 2, 5)).toEqual([2, 3])
  })
})
