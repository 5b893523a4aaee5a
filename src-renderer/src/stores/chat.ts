/**
 * Chats: the conversation list, the open conversation and the answer being
 * streamed into it. The answer's events are followed by its generation id
 * (the transport replays those that came before the id did): tokens as
 * `generation.token` (each with the exit that produced it), then the stored
 * reply, which replaces the stream, as `chat.replyDone`. Moving the budget while an answer streams sends
 * `engine.setExit`, which takes effect from the next token. Choosing Exact or
 * Auto applies to the next reply only: the engine cannot switch a running
 * answer into a mode (setExit only leaves one).
 * Tokens reach the stream's reactive state through a FrameQueue: once per
 * frame, not once per token.
 */
import { defineStore } from 'pinia'
import { computed, onScopeDispose, ref } from 'vue'
import type { ChatMessageRecord, ChatSettings, ChatSummary, DecodingMode, EngineStatus, EventPayload, WeightPrecision } from '../../../src-main/api/contract'
import { errorMessage } from '../api/error-message'
import { useApi } from '../api/use-api'
import { attempt } from './attempt'
import { appendToRuns, type ExitRun } from '../chat/exits'
import { FrameQueue } from '../streaming/frame-queue'

export interface StreamedToken {
  text: string
  exit: number
  /** Exact mode: a shallow draft the full model accepted. */
  drafted?: boolean
}

export interface Stream {
  chatId: string
  generationId: string | null
  /** The answer so far, as runs of tokens that left at one exit. */
  runs: ExitRun[]
  tokenCount: number
  /** performance.now() of the first token, for the live tokens/s. */
  firstTokenAt: number | null
  lastTokenAt: number | null
  stopping: boolean
}

export const useChatStore = defineStore('chat', () => {
  const api = useApi()
  const chats = ref<ChatSummary[]>([])
  const search = ref('')
  const current = ref<ChatSummary | null>(null)
  const messages = ref<ChatMessageRecord[]>([])
  const stream = ref<Stream | null>(null)
  /** What went wrong in the open conversation (shown under it). */
  const error = ref<string | null>(null)
  /** Why the list could not be read, or a conversation renamed or deleted (shown over the list). */
  const listError = ref<string | null>(null)
  const engine = ref<EngineStatus>({ state: 'empty' })
  /** Stops following the streamed answer's events. */
  let unfollow = () => {}

  onScopeDispose(api.on('engine.status', (status) => (engine.value = status)))
  /** Tokens of the adopted stream on their way to the page, with their arrival times. */
  const arriving = new FrameQueue<StreamedToken & { at: number }>((tokens) => {
    const s = stream.value
    if (!s) return
    for (const t of tokens) appendToRuns(s.runs, t.text, t.exit, t.drafted ?? false)
    s.tokenCount += tokens.length
    s.lastTokenAt = tokens.at(-1)!.at
  })

  function show(pieces: StreamedToken[], at: number): void {
    const s = stream.value
    if (!s) return
    // The first token's time is set on arrival, not at the frame, so tokens/s counts from it.
    s.firstTokenAt ??= at
    arriving.push(...pieces.map((p) => ({ ...p, at })))
  }

  /** A finished reply into the open chat: the stored message, or why there is none. */
  function land(done: EventPayload<'chat.replyDone'>): void {
    if (current.value?.id !== done.chatId) return
    if (done.error && !done.message) error.value = done.error
    if (done.message && !messages.value.some((m) => m.id === done.message!.id)) messages.value.push(done.message)
  }

  onScopeDispose(
    api.on('chat.replyDone', (done) => {
      // This window's own answer lands through follow() below, after the user's message it answers.
      const s = stream.value
      const ours = s?.chatId === done.chatId && (s.generationId === null || s.generationId === done.generationId)
      if (!ours) land(done)
      void loadList()
    }),
  )
  onScopeDispose(() => unfollow())

  const liveTokensPerSecond = computed(() => {
    const s = stream.value
    if (!s || s.firstTokenAt === null || s.lastTokenAt === null || s.tokenCount < 2) return null
    const seconds = (s.lastTokenAt - s.firstTokenAt) / 1000
    return seconds > 0 ? (s.tokenCount - 1) / seconds : null
  })

  async function loadList(): Promise<void> {
    await attempt(listError, async () => (chats.value = (await api.call('chats.list', search.value.trim() ? { search: search.value } : {})).chats))
  }

  async function loadEngine(): Promise<void> {
    await attempt(error, async () => (engine.value = await api.call('engine.status', {})))
  }

  /**
   * Loads the chat's model in its library precision (with the adapter merged in, for an adapter entry) unless
   * it runs so already (or fell back to fp32, which a reload would repeat) or a load is under way.
   */
  /** `adapterRank`: a DyLoRA adapter's rank to merge (absent: its r). */
  async function ensureEngineHas(path: string, precision: WeightPrecision = 'fp32', adapterPath?: string, adapterRank?: number): Promise<void> {
    if (engine.value.state === 'loading') return
    const loaded = engine.value.state === 'ready' ? engine.value.model : undefined
    const sameAdapter = loaded?.adapter?.path === adapterPath && (!loaded?.adapter || loaded.adapter.rank === (adapterRank ?? loaded.adapter.r))
    const sameModel = loaded?.path === path && sameAdapter
    if (sameModel && ((loaded.weights?.precision ?? 'fp32') === precision || loaded.weightsFallbackReason)) return
    const adapter = adapterPath ? { path: adapterPath, ...(adapterRank !== undefined ? { rank: adapterRank } : {}) } : undefined
    try {
      await api.call('engine.load', { path, ...(precision === 'fp32' ? {} : { weights: { precision } }), ...(adapter ? { adapter } : {}) })
    } catch {
      // Not an error to show yet: the send that follows reports the reason, if the person sends at all.
    }
  }

  async function open(chatId: string): Promise<void> {
    await attempt(error, async () => {
      const { chat, messages: list } = await api.call('chats.get', { chatId })
      current.value = chat
      messages.value = list
    })
  }

  /** Starts a chat and opens it; resolves to it, or null with error saying why not. */
  async function create(modelId?: string): Promise<ChatSummary | null> {
    let created: ChatSummary | null = null
    const ok = await attempt(error, async () => {
      created = (await api.call('chats.create', modelId ? { modelId } : {})).chat
      current.value = created
      messages.value = []
    })
    if (ok) await loadList()
    return created
  }

  async function rename(chatId: string, title: string): Promise<void> {
    const ok = await attempt(listError, async () => {
      const { chat } = await api.call('chats.rename', { chatId, title })
      if (current.value?.id === chatId) current.value = chat
    })
    if (ok) await loadList()
  }

  async function remove(chatId: string): Promise<void> {
    const ok = await attempt(listError, async () => {
      await api.call('chats.remove', { chatId })
      if (current.value?.id === chatId) {
        current.value = null
        messages.value = []
      }
    })
    if (ok) await loadList()
  }

  /**
   * Changes to the open chat go one at a time, each computed from the chat as
   * the previous change left it: the settings panel's Save and a slider move
   * made right after it both land (the second would otherwise resend the
   * settings from before the first, undoing it).
   */
  let configuring: Promise<void> = Promise.resolve()
  type SettingsChange = ChatSettings | ((latest: ChatSettings) => ChatSettings)
  function configure(change: { modelId?: string; systemPrompt?: string; settings?: SettingsChange }): Promise<void> {
    const next = configuring.then(async () => {
      const chat = current.value
      if (!chat) return
      const { settings, ...rest } = change
      const resolved = typeof settings === 'function' ? settings(chat.settings) : settings
      await attempt(error, async () => (current.value = (await api.call('chats.configure', { chatId: chat.id, ...rest, ...(resolved ? { settings: resolved } : {}) })).chat))
    })
    configuring = next
    return next
  }

  function startStream(chatId: string): Stream {
    endStream()
    stream.value = { chatId, generationId: null, runs: [], tokenCount: 0, firstTokenAt: null, lastTokenAt: null, stopping: false }
    return stream.value
  }

  function endStream(): void {
    unfollow()
    unfollow = () => {}
    arriving.clear()
    stream.value = null
  }

  /** The stream is generation `generationId`: its tokens (those already here first) and then its stored reply. */
  function adopt(generationId: string): void {
    const s = stream.value
    if (!s) return
    s.generationId = generationId
    unfollow = api.follow(generationId, {
      'generation.token': (token) => show([{ text: token.text, exit: token.exit, drafted: token.drafted ?? false }], performance.now()),
      'chat.replyDone': (done) => {
        endStream()
        land(done)
      },
    })
  }

  /** Sends the user's text in the open chat (creating one first if none is open). */
  async function send(content: string): Promise<void> {
    const text = content.trim()
    if (!text || stream.value) return
    error.value = null
    const chat = current.value ?? (await create())
    if (!chat) return
    startStream(chat.id)
    try {
      const { generationId, message } = await api.call('chats.send', { chatId: chat.id, content: text })
      if (current.value?.id === chat.id) messages.value.push(message)
      adopt(generationId)
      await loadList()
    } catch (e) {
      endStream()
      error.value = errorMessage(e)
      if (current.value?.id === chat.id) await open(chat.id)
    }
  }

  async function regenerate(messageId: string, exit?: number): Promise<void> {
    if (!current.value || stream.value) return
    const chatId = current.value.id
    const at = messages.value.findIndex((m) => m.id === messageId)
    error.value = null
    startStream(chatId)
    try {
      const { generationId } = await api.call('chats.regenerate', { chatId, messageId, ...(exit ? { exit } : {}) })
      if (at >= 0) messages.value.splice(at)
      adopt(generationId)
    } catch (e) {
      endStream()
      error.value = errorMessage(e)
    }
  }

  async function stop(): Promise<void> {
    const s = stream.value
    if (!s?.generationId || s.stopping) return
    s.stopping = true
    try {
      await api.call('engine.cancel', { generationId: s.generationId })
    } catch {
      // It finished on its own meanwhile: chat.replyDone brings the answer.
    }
  }

  /** The budget for the following replies, and for the answer streaming now from its next token (leaving Exact/Auto mode). */
  async function setBudget(exit: number): Promise<void> {
    const s = stream.value
    if (s?.generationId) {
      try {
        await api.call('engine.setExit', { generationId: s.generationId, exit })
      } catch {
        // The answer ended just now; the saved budget below still applies to the next one.
      }
    }
    await configure({
      settings: (latest) => {
        const { mode: _mode, ...settings } = latest
        return { ...settings, exit }
      },
    })
  }

  /** The rank the chat's DyLoRA adapter is merged at for the following replies (undefined: its r). */
  async function setAdapterRank(rank: number | undefined): Promise<void> {
    await configure({
      settings: (latest) => {
        const { adapterRank: _rank, ...settings } = latest
        return rank === undefined ? settings : { ...settings, adapterRank: rank }
      },
    })
  }

  /** Exact or Auto mode for the following replies; an answer streaming now keeps its exit (the engine cannot enter a mode mid-answer). */
  async function setMode(mode: DecodingMode): Promise<void> {
    await configure({ settings: (latest) => ({ ...latest, mode }) })
  }

  return {
    chats,
    search,
    current,
    messages,
    stream,
    error,
    listError,
    engine,
    liveTokensPerSecond,
    loadList,
    loadEngine,
    ensureEngineHas,
    open,
    create,
    rename,
    remove,
    configure,
    send,
    regenerate,
    stop,
    setBudget,
    setMode,
    setAdapterRank,
  }
})
