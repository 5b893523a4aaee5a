/**
 * Chats with the budget slider.
 * Part of the API contract (see index.ts).
 */
import { z } from 'zod'
import { DecodingMode, Sampling } from './engine'

/** How a chat's replies are generated; saved with the chat and with every reply. */
export const ChatSettings = z
  .object({
    /** The budget: the exit (layer count) replies start at; the full model when absent. */
    exit: z.number().int().positive().optional(),
    /** Exact or Auto decoding instead of the fixed exit (the budget slider's last two stops). */
    mode: DecodingMode.optional(),
    /** Auto mode's confidence threshold (top-token probability); the engine's default 0.5 when absent. */
    autoTau: z.number().min(0).max(1).optional(),
    /** A DyLoRA adapter's nested rank to merge at load (1..its r; absent: r); only for a chat on an adapter. */
    adapterRank: z.number().int().positive().optional(),
    maxNewTokens: z.number().int().positive().max(8192).default(256),
    sampling: Sampling.default({ temperature: 0 }),
  })
  .strict()
export type ChatSettings = z.infer<typeof ChatSettings>

export const ChatSummary = z.object({
  id: z.string(),
  title: z.string(),
  modelId: z.string().nullable(),
  systemPrompt: z.string(),
  settings: ChatSettings,
  createdAt: z.number(),
  updatedAt: z.number(),
})
export type ChatSummary = z.infer<typeof ChatSummary>

export const ChatMessageRecord = z.object({
  id: z.string(),
  chatId: z.string(),
  position: z.number().int().nonnegative(),
  role: z.enum(['system', 'user', 'assistant']),
  content: z.string(),
  /** The exit the reply started at; null for the user's text. */
  exit: z.number().int().nullable(),
  /** The exit of every generated token, and how many characters of content each wrote. */
  tokenExits: z.array(z.number().int()).nullable(),
  tokenLengths: z.array(z.number().int()).nullable(),
  /**
   * The settings the reply was generated with: ChatSettings plus the finish reason, and in Exact mode
   * `drafted`, `accepted` (counts) and `draftedTokens` (the indexes of the drafted tokens the full model accepted).
   */
  settings: z.record(z.string(), z.unknown()),
  tokensPerSecond: z.number().nullable(),
  createdAt: z.number(),
})
export type ChatMessageRecord = z.infer<typeof ChatMessageRecord>

export const ChatReplyDone = z.object({
  chatId: z.string(),
  generationId: z.string(),
  /** The stored reply; absent when generation failed before writing anything. */
  message: ChatMessageRecord.optional(),
  error: z.string().optional(),
})

const ChatRef = z.object({ chatId: z.string().min(1) }).strict()

export const chatsMethods = {
  'chats.list': { request: z.object({ search: z.string().optional() }).strict(), response: z.object({ chats: z.array(ChatSummary) }) },
  /** A new chat on the given model, else the default model (the bundled SoFT model). */
  'chats.create': {
    request: z.object({ title: z.string().optional(), modelId: z.string().optional(), settings: ChatSettings.optional() }).strict(),
    response: z.object({ chat: ChatSummary }),
  },
  'chats.get': { request: ChatRef, response: z.object({ chat: ChatSummary, messages: z.array(ChatMessageRecord) }) },
  'chats.rename': { request: ChatRef.extend({ title: z.string().trim().min(1).max(200) }).strict(), response: z.object({ chat: ChatSummary }) },
  /** Changes the model, system prompt or settings for the replies that follow. */
  'chats.configure': {
    request: ChatRef.extend({ modelId: z.string().optional(), systemPrompt: z.string().max(20000).optional(), settings: ChatSettings.optional() }).strict(),
    response: z.object({ chat: ChatSummary }),
  },
  'chats.remove': { request: ChatRef, response: z.object({}) },
  /**
   * Adds the user's message and starts the reply (loading the chat's model if needed). Tokens stream as
   * generation.token; the stored reply arrives as chat.replyDone. Move the budget with engine.setExit.
   */
  'chats.send': {
    request: ChatRef.extend({ content: z.string().min(1).max(100000) }).strict(),
    response: z.object({ generationId: z.string(), message: ChatMessageRecord }),
  },
  /** Replaces the answer `messageId` (and anything after it) with a new one, e.g. at another budget. */
  'chats.regenerate': {
    request: ChatRef.extend({ messageId: z.string().min(1), exit: z.number().int().positive().optional() }).strict(),
    response: z.object({ generationId: z.string() }),
  },
} as const

export const chatsEvents = {
  'chat.replyDone': ChatReplyDone,
} as const
