/** Conversations and their messages, with the budget each reply was generated at. */
import { randomUUID } from 'node:crypto'
import type { Database, Statement, Transaction } from 'better-sqlite3'
import type { Clock } from './clock'
import { NotFoundError } from './errors'
import { decodeJson, decodeJsonOrNull, encodeJson, type JsonObject } from './json'
import { prepareReturning, type WriteReturning } from './returning'

export type MessageRole = 'system' | 'user' | 'assistant'

export interface Chat {
  id: string
  title: string
  /** Null when the chat's model was deleted. */
  modelId: string | null
  systemPrompt: string
  /** Decoding settings (budget, temperature, …) for new replies. */
  settings: JsonObject
  createdAt: number
  /** Moves with every new message, so recent chats list first. */
  updatedAt: number
}

export interface NewChat {
  title: string
  modelId?: string | null
  systemPrompt?: string
  settings?: JsonObject
}

/** What a chat's replies are generated with; omitted fields stay as they are. */
export interface ChatConfiguration {
  modelId?: string | null
  systemPrompt?: string
  settings?: JsonObject
}

export interface Message {
  id: string
  chatId: string
  /** 0, 1, 2… in conversation order. */
  position: number
  role: MessageRole
  content: string
  /** The budget (layer count) the reply was generated at; null for user text. */
  exit: number | null
  /** The exit each generated token left at, when it varied (auto budget, slider moved). */
  tokenExits: number[] | null
  /** How many characters of `content` each generated token wrote, parallel to tokenExits. */
  tokenLengths: number[] | null
  /** The decoding settings the reply was generated with. */
  settings: JsonObject
  tokensPerSecond: number | null
  createdAt: number
}

export interface NewMessage {
  role: MessageRole
  content: string
  exit?: number | null
  tokenExits?: readonly number[] | null
  tokenLengths?: readonly number[] | null
  settings?: JsonObject
  tokensPerSecond?: number | null
}

interface ChatRow {
  id: string
  title: string
  model_id: string | null
  system_prompt: string
  settings: string
  created_at: number
  updated_at: number
}

interface MessageRow {
  id: string
  chat_id: string
  position: number
  role: MessageRole
  content: string
  exit: number | null
  token_exits: string | null
  token_lengths: string | null
  settings: string
  tokens_per_second: number | null
  created_at: number
}

type NewMessageRow = Omit<MessageRow, 'position'>
type ConfigureParams = { id: string; model_id: string | null; system_prompt: string; settings: string; now: number }

function toChat(row: ChatRow): Chat {
  return {
    id: row.id,
    title: row.title,
    modelId: row.model_id,
    systemPrompt: row.system_prompt,
    settings: decodeJson<JsonObject>(row.settings),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  }
}

function toMessage(row: MessageRow): Message {
  return {
    id: row.id,
    chatId: row.chat_id,
    position: row.position,
    role: row.role,
    content: row.content,
    exit: row.exit,
    tokenExits: decodeJsonOrNull<number[]>(row.token_exits),
    tokenLengths: decodeJsonOrNull<number[]>(row.token_lengths),
    settings: decodeJson<JsonObject>(row.settings),
    tokensPerSecond: row.tokens_per_second,
    createdAt: row.created_at,
  }
}

/** A LIKE pattern matching `text` literally anywhere. */
function containsPattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
}

export class ChatsRepository {
  readonly #insert: WriteReturning<ChatRow, ChatRow>
  readonly #get: Statement<[string], ChatRow>
  readonly #list: Statement<{ pattern: string | null }, ChatRow>
  readonly #rename: WriteReturning<{ id: string; title: string; now: number }, ChatRow>
  readonly #configure: WriteReturning<ConfigureParams, ChatRow>
  readonly #delete: Statement<[string]>
  readonly #insertMessage: WriteReturning<NewMessageRow, MessageRow>
  readonly #touch: Statement<{ id: string; now: number }>
  readonly #messages: Statement<[string], MessageRow>
  readonly #truncate: Statement<{ chat_id: string; position: number }>
  readonly #configureTx: Transaction<(id: string, change: ChatConfiguration) => Chat>
  readonly #appendMessage: Transaction<(chatId: string, message: NewMessage) => Message>
  readonly #now: Clock

  constructor(db: Database, now: Clock) {
    this.#now = now
    this.#insert = prepareReturning<ChatRow, ChatRow>(
      db,
      `INSERT INTO chats (id, title, model_id, system_prompt, settings, created_at, updated_at)
       VALUES (@id, @title, @model_id, @system_prompt, @settings, @created_at, @updated_at)
       RETURNING *`,
    )
    this.#get = db.prepare<[string], ChatRow>('SELECT * FROM chats WHERE id = ?')
    this.#list = db.prepare<{ pattern: string | null }, ChatRow>(
      `SELECT * FROM chats WHERE @pattern IS NULL OR title LIKE @pattern ESCAPE '\\'
       ORDER BY updated_at DESC, rowid DESC`,
    )
    this.#rename = prepareReturning<{ id: string; title: string; now: number }, ChatRow>(
      db,
      'UPDATE chats SET title = @title, updated_at = @now WHERE id = @id RETURNING *',
    )
    this.#configure = prepareReturning<ConfigureParams, ChatRow>(
      db,
      `UPDATE chats SET model_id = @model_id, system_prompt = @system_prompt, settings = @settings, updated_at = @now
       WHERE id = @id RETURNING *`,
    )
    this.#delete = db.prepare<[string]>('DELETE FROM chats WHERE id = ?')
    // The position is computed inside the insert, so appends never collide.
    this.#insertMessage = prepareReturning<NewMessageRow, MessageRow>(
      db,
      `INSERT INTO messages (id, chat_id, position, role, content, exit, token_exits, token_lengths, settings, tokens_per_second, created_at)
       VALUES (@id, @chat_id, (SELECT ifnull(max(position) + 1, 0) FROM messages WHERE chat_id = @chat_id),
               @role, @content, @exit, @token_exits, @token_lengths, @settings, @tokens_per_second, @created_at)
       RETURNING *`,
    )
    this.#touch = db.prepare<{ id: string; now: number }>('UPDATE chats SET updated_at = @now WHERE id = @id')
    this.#messages = db.prepare<[string], MessageRow>('SELECT * FROM messages WHERE chat_id = ? ORDER BY position')
    this.#truncate = db.prepare<{ chat_id: string; position: number }>('DELETE FROM messages WHERE chat_id = @chat_id AND position >= @position')

    this.#configureTx = db.transaction((id: string, change: ChatConfiguration) => {
      const chat = this.get(id)
      if (chat === undefined) throw new NotFoundError('chat', id)
      const row = this.#configure({
        id,
        model_id: change.modelId === undefined ? chat.modelId : change.modelId,
        system_prompt: change.systemPrompt ?? chat.systemPrompt,
        settings: encodeJson(change.settings ?? chat.settings, 'settings'),
        now: this.#now(),
      })
      return toChat(row!)
    })
    this.#appendMessage = db.transaction((chatId: string, message: NewMessage) => {
      const at = this.#now()
      const row = this.#insertMessage({
        id: randomUUID(),
        chat_id: chatId,
        role: message.role,
        content: message.content,
        exit: message.exit ?? null,
        token_exits: message.tokenExits == null ? null : encodeJson(message.tokenExits, 'tokenExits'),
        token_lengths: message.tokenLengths == null ? null : encodeJson(message.tokenLengths, 'tokenLengths'),
        settings: encodeJson(message.settings ?? {}, 'settings'),
        tokens_per_second: message.tokensPerSecond ?? null,
        created_at: at,
      })
      this.#touch.run({ id: chatId, now: at })
      return toMessage(row!)
    })
  }

  create(chat: NewChat): Chat {
    const at = this.#now()
    const row = this.#insert({
      id: randomUUID(),
      title: chat.title,
      model_id: chat.modelId ?? null,
      system_prompt: chat.systemPrompt ?? '',
      settings: encodeJson(chat.settings ?? {}, 'settings'),
      created_at: at,
      updated_at: at,
    })
    return toChat(row!)
  }

  get(id: string): Chat | undefined {
    const row = this.#get.get(id)
    return row === undefined ? undefined : toChat(row)
  }

  /** Most recently active first; `search` keeps chats whose title contains it (ignoring ASCII case). */
  list(options: { search?: string } = {}): Chat[] {
    const search = options.search?.trim()
    return this.#list.all({ pattern: search ? containsPattern(search) : null }).map(toChat)
  }

  rename(id: string, title: string): Chat {
    const row = this.#rename({ id, title, now: this.#now() })
    if (row === undefined) throw new NotFoundError('chat', id)
    return toChat(row)
  }

  /** Changes the model, system prompt or settings for the replies that follow. */
  configure(id: string, change: ChatConfiguration): Chat {
    return this.#configureTx(id, change)
  }

  /** Deletes the chat and all its messages. Returns whether it existed. */
  remove(id: string): boolean {
    return this.#delete.run(id).changes > 0
  }

  /** Adds a message at the end and marks the chat as just active, together. */
  appendMessage(chatId: string, message: NewMessage): Message {
    return this.#appendMessage(chatId, message)
  }

  /** Deletes the message at `position` and every later one (an answer being regenerated); returns how many went. */
  truncate(chatId: string, position: number): number {
    return this.#truncate.run({ chat_id: chatId, position }).changes
  }

  /** In conversation order. */
  messages(chatId: string): Message[] {
    return this.#messages.all(chatId).map(toMessage)
  }
}
