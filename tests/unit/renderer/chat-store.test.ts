import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { ChatMessageRecord, ChatSummary, EngineStatus } from '../../../src-main/api/contract'
import { adapterRankOf, adapterRanks, engineRuns, loadTargetOf } from '../../../src-renderer/src/models/loaded'
import { useChatStore } from '../../../src-renderer/src/stores/chat'
import { deferred, FakeClient, piniaWith } from './fake-client'

const chat: ChatSummary = { id: 'c1', title: 'New chat', modelId: 'm', systemPrompt: '', settings: { maxNewTokens: 256, sampling: { temperature: 0 } }, createdAt: 1, updatedAt: 1 }
const userMessage: ChatMessageRecord = {
  id: 'u1',
  chatId: 'c1',
  position: 0,
  role: 'user',
  content: 'hi',
  exit: null,
  tokenExits: null,
  tokenLengths: null,
  settings: {},
  tokensPerSecond: null,
  createdAt: 1,
}
const token = (generationId: string, index: number, text: string, exit: number) => ({ generationId, index, id: index + 10, text, exit })

function client() {
  return new FakeClient().handle('chats.list', () => ({ chats: [chat] })).handle('chats.create', () => ({ chat }))
}

describe('chat store streaming', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('joins streamed tokens into runs by exit, taking a burst of tokens in at the next frame', async () => {
    const fake = client()
    const sent = deferred<{ generationId: string; message: ChatMessageRecord }>()
    fake.handle('chats.send', () => sent.promise)
    piniaWith(fake)
    const store = useChatStore()
    await store.create()
    const sending = store.send('hi')
    await vi.advanceTimersByTimeAsync(0)

    // Tokens that arrive before the send answers are kept, and others' tokens ignored.
    fake.emit('generation.token', token('g1', 0, 'Hel', 4))
    fake.emit('generation.token', token('other', 0, 'NOT MINE', 4))
    sent.resolve({ generationId: 'g1', message: userMessage })
    await sending
    fake.emit('generation.token', token('g1', 1, 'lo', 4))
    vi.advanceTimersByTime(5)
    fake.emit('generation.token', token('g1', 2, ' wor', 1))
    fake.emit('generation.token', token('g1', 3, 'ld', 1))
    fake.emit('generation.token', token('other', 4, 'NOT MINE', 1))

    // Nothing is laid out token by token: the whole burst shows at the frame.
    expect(store.stream?.tokenCount).toBe(0)
    vi.advanceTimersByTime(20)
    expect(store.stream?.runs).toEqual([
      { text: 'Hello', exit: 4 },
      { text: ' world', exit: 1 },
    ])
    expect(store.stream?.tokenCount).toBe(4)
    // 3 intervals over the 5 ms between the first and the last token.
    expect(store.liveTokensPerSecond).toBeCloseTo(3 / 0.005, 0)
    expect(store.messages).toEqual([userMessage])
  })

  it('marks accepted drafts in the streamed runs; Exact applies to the next reply while an exit also moves the running one', async () => {
    const fake = client()
      .handle('chats.send', () => ({ generationId: 'g1', message: userMessage }))
      .handle('engine.setExit', () => ({}))
      .handle('chats.configure', (params) => ({ chat: { ...chat, settings: (params as { settings: ChatSummary['settings'] }).settings } }))
    piniaWith(fake)
    const store = useChatStore()
    await store.create()
    await store.send('hi')
    fake.emit('generation.token', { ...token('g1', 0, 'A', 8), drafted: true })
    fake.emit('generation.token', { ...token('g1', 1, 'B', 8), drafted: true })
    fake.emit('generation.token', token('g1', 2, 'C', 8))
    vi.advanceTimersByTime(20)
    expect(store.stream?.runs).toEqual([
      { text: 'AB', exit: 8, drafted: true },
      { text: 'C', exit: 8 },
    ])

    await store.setMode('exact')
    expect(fake.calls.some((c) => c.method === 'engine.setExit')).toBe(false)
    expect(store.current?.settings.mode).toBe('exact')

    await store.setBudget(4)
    expect(fake.calls.filter((c) => c.method === 'engine.setExit').map((c) => c.params)).toEqual([{ generationId: 'g1', exit: 4 }])
    expect(store.current?.settings.mode).toBeUndefined()
    expect(store.current?.settings.exit).toBe(4)
  })

  it('a slider move made while the settings panel is still saving keeps what the panel saved', async () => {
    const answers: Array<ReturnType<typeof deferred<{ chat: ChatSummary }>>> = []
    const fake = client().handle('chats.configure', () => {
      const answer = deferred<{ chat: ChatSummary }>()
      answers.push(answer)
      return answer.promise
    })
    piniaWith(fake)
    const store = useChatStore()
    await store.create()
    const saving = store.configure({ settings: (latest) => ({ ...latest, autoTau: 0 }) })
    const moving = store.setMode('auto')
    await vi.advanceTimersByTimeAsync(0)
    // The second change waits for the first one's answer and builds on it.
    expect(answers).toHaveLength(1)
    const saved = (fake.calls.at(-1)!.params as { settings: ChatSummary['settings'] }).settings
    answers[0]!.resolve({ chat: { ...chat, settings: saved } })
    await saving
    await vi.advanceTimersByTimeAsync(0)
    expect(answers).toHaveLength(2)
    const moved = (fake.calls.at(-1)!.params as { settings: ChatSummary['settings'] }).settings
    expect(moved).toMatchObject({ autoTau: 0, mode: 'auto' })
    answers[1]!.resolve({ chat: { ...chat, settings: moved } })
    await moving
    expect(store.current?.settings).toMatchObject({ autoTau: 0, mode: 'auto' })
  })

  it('drops tokens still waiting for a frame when the stored reply arrives', async () => {
    const fake = client().handle('chats.send', () => ({ generationId: 'g1', message: userMessage }))
    piniaWith(fake)
    const store = useChatStore()
    await store.create()
    await store.send('hi')
    fake.emit('generation.token', token('g1', 0, 'Hi', 2))
    const reply: ChatMessageRecord = { ...userMessage, id: 'a1', position: 1, role: 'assistant', content: 'Hi', exit: 2, tokenExits: [2], tokenLengths: [2] }
    fake.emit('chat.replyDone', { chatId: 'c1', generationId: 'g1', message: reply })
    vi.advanceTimersByTime(20)
    expect(store.stream).toBeNull()
    expect(store.messages.map((m) => m.id)).toEqual(['u1', 'a1'])

    // The next answer starts from nothing.
    fake.handle('chats.send', () => ({ generationId: 'g2', message: { ...userMessage, id: 'u2', position: 2 } }))
    await store.send('again')
    fake.emit('generation.token', token('g2', 0, 'Yes', 3))
    vi.advanceTimersByTime(20)
    expect(store.stream?.runs).toEqual([{ text: 'Yes', exit: 3 }])
  })

  it('ends the stream with the stored reply, after the question, even when the reply came before the send answered', async () => {
    const fake = client()
    const sent = deferred<{ generationId: string; message: ChatMessageRecord }>()
    fake.handle('chats.send', () => sent.promise)
    piniaWith(fake)
    const store = useChatStore()
    await store.create()
    const sending = store.send('hi')
    await vi.advanceTimersByTimeAsync(0)

    const reply: ChatMessageRecord = { ...userMessage, id: 'a1', position: 1, role: 'assistant', content: 'Hi', exit: 2, tokenExits: [2], tokenLengths: [2] }
    fake.emit('generation.token', token('g1', 0, 'Hi', 2))
    fake.emit('chat.replyDone', { chatId: 'c1', generationId: 'g1', message: reply })
    expect(store.stream).not.toBeNull()
    sent.resolve({ generationId: 'g1', message: userMessage })
    await sending
    vi.advanceTimersByTime(20)
    expect(store.stream).toBeNull()
    expect(store.messages.map((m) => m.id)).toEqual(['u1', 'a1'])
  })
})

describe('chat store errors', () => {
  it('shows why a conversation could not be renamed over the list, and keeps the conversation\'s own error apart', async () => {
    const fake = client().handle('chats.rename', () => {
      throw new Error('title: must not be empty')
    })
    piniaWith(fake)
    const store = useChatStore()
    await store.create()
    await store.rename('c1', ' ')
    expect(store.listError).toBe('title: must not be empty')
    expect(store.error).toBeNull()
  })
})

describe('chat store loading the chat\'s model', () => {
  const ready = (precision: 'fp32' | 'int8', fallback?: string): EngineStatus => ({
    state: 'ready',
    model: { path: '/m', name: 'm', architecture: 'llama', numLayers: 2, contextLength: 64, exits: [1, 2], hasTokenizer: true, hasChatTemplate: false, provider: 'cpu', weights: { precision }, ...(fallback ? { weightsFallbackReason: fallback } : {}) },
  })

  it('loads it in the library precision, and again when that precision changes, but not over an fp32 fallback', async () => {
    const fake = client().handle('engine.status', () => ready('fp32')).handle('engine.load', () => ready('int8'))
    piniaWith(fake)
    const store = useChatStore()
    await store.loadEngine()
    const loads = () => fake.calls.filter((c) => c.method === 'engine.load').map((c) => c.params)

    await store.ensureEngineHas('/m', 'fp32')
    expect(loads()).toEqual([])
    await store.ensureEngineHas('/m', 'int8')
    expect(loads()).toEqual([{ path: '/m', weights: { precision: 'int8' } }])

    fake.emit('engine.status', ready('fp32', 'no MatMulNBits'))
    await store.ensureEngineHas('/m', 'int8')
    expect(loads()).toHaveLength(1)
  })

  it('loads an adapter entry as its base with the adapter, and again when the adapter differs', async () => {
    const withAdapter = (adapterPath: string): EngineStatus => {
      const status = ready('fp32')
      return { ...status, model: { ...status.model!, adapter: { path: adapterPath, rank: 4, r: 4, kind: 'lora' } } }
    }
    const fake = client().handle('engine.status', () => withAdapter('/a1')).handle('engine.load', () => withAdapter('/a2'))
    piniaWith(fake)
    const store = useChatStore()
    await store.loadEngine()
    const loads = () => fake.calls.filter((c) => c.method === 'engine.load').map((c) => c.params)

    await store.ensureEngineHas('/m', 'fp32', '/a1')
    expect(loads()).toEqual([])
    await store.ensureEngineHas('/m', 'fp32', '/a2')
    expect(loads()).toEqual([{ path: '/m', adapter: { path: '/a2' } }])
    await store.ensureEngineHas('/m', 'fp32')
    expect(loads()).toEqual([{ path: '/m', adapter: { path: '/a2' } }, { path: '/m' }])
  })
  it('loads a DyLoRA adapter again when the chat asks for another rank, and not when it runs at that rank', async () => {
    const atRank = (rank: number): EngineStatus => {
      const status = ready('fp32')
      return { ...status, model: { ...status.model!, adapter: { path: '/a', rank, r: 4, kind: 'dylora' } } }
    }
    const fake = client().handle('engine.status', () => atRank(4)).handle('engine.load', () => atRank(2))
    piniaWith(fake)
    const store = useChatStore()
    await store.loadEngine()
    const loads = () => fake.calls.filter((c) => c.method === 'engine.load').map((c) => c.params)

    // No rank means r, which is what runs.
    await store.ensureEngineHas('/m', 'fp32', '/a')
    expect(loads()).toEqual([])
    await store.ensureEngineHas('/m', 'fp32', '/a', 2)
    expect(loads()).toEqual([{ path: '/m', adapter: { path: '/a', rank: 2 } }])
    fake.emit('engine.status', atRank(2))
    await store.ensureEngineHas('/m', 'fp32', '/a', 2)
    expect(loads()).toHaveLength(1)
    await store.ensureEngineHas('/m', 'fp32', '/a')
    expect(loads()).toEqual([{ path: '/m', adapter: { path: '/a', rank: 2 } }, { path: '/m', adapter: { path: '/a' } }])
  })

  it('stores the chosen rank in the chat settings, and none for r', async () => {
    let settings: unknown
    const fake = client().handle('chats.configure', (params) => {
      settings = params.settings
      return { chat: { ...chat, settings: params.settings as ChatSummary['settings'] } }
    })
    piniaWith(fake)
    const store = useChatStore()
    store.current = chat
    await store.setAdapterRank(2)
    expect(settings).toEqual({ ...chat.settings, adapterRank: 2 })
    await store.setAdapterRank(undefined)
    expect(settings).toEqual(chat.settings)
  })
})

describe('which library entry the engine runs', () => {
  const adapterEntry = { path: '/adapters/a', adapter: { baseModelId: 'b', basePath: '/m', kind: 'lora' as const, rank: 4, alpha: 8, targets: ['q_proj'], trainNorm: false } }

  it('an adapter runs as its base with it merged in; the base alone is not the adapter, nor the reverse', () => {
    expect(loadTargetOf(adapterEntry)).toEqual({ path: '/m', adapterPath: '/adapters/a' })
    expect(engineRuns({ path: '/m', adapter: { path: '/adapters/a', rank: 4, r: 4, kind: 'lora' } }, adapterEntry)).toBe(true)
    expect(engineRuns({ path: '/m' }, adapterEntry)).toBe(false)
    expect(engineRuns({ path: '/m', adapter: { path: '/adapters/a', rank: 4, r: 4, kind: 'lora' } }, { path: '/m' })).toBe(false)
    expect(engineRuns({ path: '/m' }, { path: '/m' })).toBe(true)
  })

  it("offers a DyLoRA adapter's measured ranks (else 1..r), with r and the chat's rank among them; none for LoRA", () => {
    const dylora = { adapter: { ...adapterEntry.adapter, kind: 'dylora' as const, rank: 8 } }
    expect(adapterRanks(dylora)).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
    const measured = { adapter: { ...dylora.adapter, resultsByRank: { '1': { '2': 5 }, '2': { '2': 4.5 }, '4': { '2': 4 } } } }
    expect(adapterRanks(measured)).toEqual([1, 2, 4, 8])
    expect(adapterRanks(measured, 3)).toEqual([1, 2, 3, 4, 8])
    expect(adapterRanks(adapterEntry)).toEqual([])
    expect(adapterRanks(undefined)).toEqual([])
    // The chat's rank when it fits the adapter, else r; nothing for a model that is no adapter.
    expect(adapterRankOf(measured, 2)).toBe(2)
    expect(adapterRankOf(measured, 16)).toBe(8)
    expect(adapterRankOf(measured, undefined)).toBe(8)
    expect(adapterRankOf({}, 2)).toBeUndefined()
  })
})
