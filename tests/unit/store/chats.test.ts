import { describe, expect, it } from 'vitest'
import { NotFoundError } from '../../../src-main/store'
import { addModel, manualClock, memoryStore } from './helpers'

describe('ChatsRepository', () => {
  it('creates a chat with empty defaults', () => {
    const clock = manualClock()
    const store = memoryStore({ now: clock.now })

    const chat = store.chats.create({ title: 'New chat' })

    expect(chat).toMatchObject({
      title: 'New chat',
      modelId: null,
      systemPrompt: '',
      settings: {},
      createdAt: clock.now(),
      updatedAt: clock.now(),
    })
    expect(store.chats.get(chat.id)).toEqual(chat)
  })

  it('appends messages in conversation order', () => {
    const store = memoryStore()
    const chat = store.chats.create({ title: 'Order' })

    store.chats.appendMessage(chat.id, { role: 'system', content: 'Be brief.' })
    store.chats.appendMessage(chat.id, { role: 'user', content: 'Hi' })
    store.chats.appendMessage(chat.id, { role: 'assistant', content: 'Hello!' })

    expect(store.chats.messages(chat.id).map((m) => [m.position, m.role, m.content])).toEqual([
      [0, 'system', 'Be brief.'],
      [1, 'user', 'Hi'],
      [2, 'assistant', 'Hello!'],
    ])
  })

  it('keeps the budget, per-token exits, settings and speed a reply was generated with', () => {
    const store = memoryStore()
    const chat = store.chats.create({ title: 'Budget' })

    store.chats.appendMessage(chat.id, {
      role: 'assistant',
      content: 'Paris.',
      exit: 4,
      tokenExits: [4, 4, 2],
      tokenLengths: [3, 2, 1],
      settings: { budget: 'auto', temperature: 0 },
      tokensPerSecond: 85.5,
    })

    expect(store.chats.messages(chat.id)[0]).toMatchObject({
      exit: 4,
      tokenExits: [4, 4, 2],
      tokenLengths: [3, 2, 1],
      settings: { budget: 'auto', temperature: 0 },
      tokensPerSecond: 85.5,
    })
  })

  it('leaves budget fields empty on user messages', () => {
    const store = memoryStore()
    const chat = store.chats.create({ title: 'Plain' })

    const message = store.chats.appendMessage(chat.id, { role: 'user', content: 'Hi' })

    expect(message).toMatchObject({ exit: null, tokenExits: null, settings: {}, tokensPerSecond: null })
  })

  it('drops an answer and everything after it when it is regenerated', () => {
    const store = memoryStore()
    const chat = store.chats.create({ title: 'Again' })
    for (const [role, content] of [['user', 'Q1'], ['assistant', 'A1'], ['user', 'Q2'], ['assistant', 'A2']] as const) {
      store.chats.appendMessage(chat.id, { role, content })
    }

    expect(store.chats.truncate(chat.id, 1)).toBe(3)
    const next = store.chats.appendMessage(chat.id, { role: 'assistant', content: 'A1 again' })

    expect(store.chats.messages(chat.id).map((m) => m.content)).toEqual(['Q1', 'A1 again'])
    expect(next.position).toBe(1)
  })

  it('marks the chat as active when a message is appended', () => {
    const clock = manualClock()
    const store = memoryStore({ now: clock.now })
    const chat = store.chats.create({ title: 'Active' })
    const later = clock.advance()

    store.chats.appendMessage(chat.id, { role: 'user', content: 'Still there?' })

    expect(store.chats.get(chat.id)?.updatedAt).toBe(later)
  })

  it('lists the most recently active chat first', () => {
    const clock = manualClock()
    const store = memoryStore({ now: clock.now })
    const older = store.chats.create({ title: 'Older' })
    clock.advance()
    const newer = store.chats.create({ title: 'Newer' })
    clock.advance()
    store.chats.appendMessage(older.id, { role: 'user', content: 'bump' })

    expect(store.chats.list().map((c) => c.id)).toEqual([older.id, newer.id])
  })

  it('finds chats whose title contains the search, ignoring case', () => {
    const store = memoryStore()
    store.chats.create({ title: 'Rust lifetimes' })
    store.chats.create({ title: 'Trip to Rome' })
    store.chats.create({ title: 'Brownie recipe' })

    expect(store.chats.list({ search: 'RO' }).map((c) => c.title).sort()).toEqual(['Brownie recipe', 'Trip to Rome'])
  })

  it('treats % and _ in a search as plain characters', () => {
    const store = memoryStore()
    store.chats.create({ title: '100% done' })
    store.chats.create({ title: '100 things' })

    expect(store.chats.list({ search: '100%' }).map((c) => c.title)).toEqual(['100% done'])
  })

  it('renames a chat', () => {
    const store = memoryStore()
    const chat = store.chats.create({ title: 'New chat' })

    store.chats.rename(chat.id, 'Quantization notes')

    expect(store.chats.get(chat.id)?.title).toBe('Quantization notes')
  })

  it('reports renaming a chat that does not exist', () => {
    expect(() => memoryStore().chats.rename('gone', 'x')).toThrow(NotFoundError)
  })

  it('changes the model and settings for later replies, keeping the rest', () => {
    const store = memoryStore()
    const model = addModel(store)
    const chat = store.chats.create({ title: 'Configured', systemPrompt: 'Be brief.', settings: { budget: 8 } })

    const configured = store.chats.configure(chat.id, { modelId: model.id, settings: { budget: 4 } })

    expect(configured).toMatchObject({ modelId: model.id, systemPrompt: 'Be brief.', settings: { budget: 4 } })
  })

  it('deletes a chat with its messages', () => {
    const store = memoryStore()
    const chat = store.chats.create({ title: 'Doomed' })
    store.chats.appendMessage(chat.id, { role: 'user', content: 'Hi' })

    expect(store.chats.remove(chat.id)).toBe(true)
    expect(store.chats.get(chat.id)).toBeUndefined()
    expect(store.chats.messages(chat.id)).toEqual([])
  })

  it('refuses a message for a chat that does not exist', () => {
    expect(() => memoryStore().chats.appendMessage('gone', { role: 'user', content: 'Hi' })).toThrow(/FOREIGN KEY/)
  })

  it('refuses a role other than system, user, assistant, without touching the chat', () => {
    const clock = manualClock()
    const store = memoryStore({ now: clock.now })
    const chat = store.chats.create({ title: 'Roles' })
    clock.advance()

    expect(() => store.chats.appendMessage(chat.id, { role: 'tool' as never, content: '{}' })).toThrow(/CHECK constraint/)
    expect(store.chats.messages(chat.id)).toEqual([])
    expect(store.chats.get(chat.id)?.updatedAt).toBe(chat.updatedAt)
  })
})
