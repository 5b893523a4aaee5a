import { describe, expect, it } from 'vitest'
import { checkPromptFits, checkTokenIds, fitConversation, newTokenBudget, PromptError, type ConversationMeasure } from '../../../../src-main/engine/generate/context'
import type { ChatMessage } from '../../../../src-main/engine/tokenizer/chat-template'

/** One token a word; the "template" adds 2 tokens a message and 1 for the answer's start. */
const encoded: ChatMessage[][] = []
const measure: ConversationMeasure = {
  count: (text) => text.split(' ').length,
  encode: (messages) => {
    encoded.push([...messages])
    return Array.from({ length: messages.reduce((n, m) => n + 2 + m.content.split(' ').length, 1) }, (_, i) => i)
  },
}
const words = (n: number, word = 'w') => Array.from({ length: n }, () => word).join(' ')
const system: ChatMessage = { role: 'system', content: words(5, 's') }
const turn = (n: number, size: number): ChatMessage[] => [
  { role: 'user', content: words(size, `u${n}`) },
  { role: 'assistant', content: words(size, `a${n}`) },
]

describe('fitConversation: system prompt and latest turns kept, oldest turns dropped', () => {
  it('keeps a conversation that fits as it is', () => {
    const messages = [system, ...turn(1, 10), { role: 'user' as const, content: words(10) }]
    const fitted = fitConversation(messages, measure, 100)
    expect(fitted.dropped).toBe(0)
    expect(fitted.ids).toHaveLength(7 + 12 + 12 + 12 + 1)
  })

  it('drops whole turns, oldest first, keeping the system prompt and the latest message', () => {
    const latest: ChatMessage = { role: 'user', content: words(10, 'latest') }
    const messages = [system, ...turn(1, 15), ...turn(2, 15), ...turn(3, 15), latest]
    encoded.length = 0
    // 7 (system) + 12 (latest) + 1, then 34 a turn: two of the three earlier turns fit in 99.
    const fitted = fitConversation(messages, measure, 100)
    expect(fitted.dropped).toBe(2)
    expect(encoded.at(-1)).toEqual([system, ...turn(2, 15), ...turn(3, 15), latest])
    expect(fitted.ids.length).toBeLessThan(100)
  })

  it('never starts the kept history with an answer', () => {
    const messages = [...turn(1, 30), ...turn(2, 30), { role: 'user' as const, content: words(5) }]
    encoded.length = 0
    fitConversation(messages, measure, 80)
    expect(encoded.at(-1)![0]!.role).toBe('user')
  })

  it('drops a further turn when the template makes the estimate too small', () => {
    const tight: ConversationMeasure = { count: (text) => text.split(' ').length, encode: (messages) => new Array(messages.length * 30).fill(0) }
    const messages = [...turn(1, 1), ...turn(2, 1), { role: 'user' as const, content: 'hi' }]
    // The estimate keeps everything (5 tokens); the exact count (30 a message) keeps the latest only.
    expect(fitConversation(messages, tight, 64).dropped).toBe(4)
  })

  it('refuses, naming the limit, when the system prompt and the latest message alone do not fit', () => {
    const messages = [system, ...turn(1, 3), { role: 'user' as const, content: words(200) }]
    expect(() => fitConversation(messages, measure, 100)).toThrow(PromptError)
    expect(() => fitConversation(messages, measure, 100)).toThrow(
      "the system prompt and the latest message come to 210 tokens, but this model's context is 100 tokens (from max_position_embeddings in config.json) and must leave room for the answer: shorten the message",
    )
  })

  it('counts each message once however long the history (no re-encoding of what is dropped)', () => {
    let counted = 0
    const counting: ConversationMeasure = { ...measure, count: (text) => (counted++, measure.count(text)) }
    const history = Array.from({ length: 500 }, (_, i) => turn(i, 50)).flat()
    fitConversation([...history, { role: 'user', content: 'last' }], counting, 256)
    // The latest message, then turns newest first until one does not fit: a handful, not 1001.
    expect(counted).toBeLessThan(20)
  })
})

describe('prompt checks name the limit', () => {
  it('a prompt that leaves no room for a new token', () => {
    expect(() => checkPromptFits(255, 256)).not.toThrow()
    expect(() => checkPromptFits(256, 256)).toThrow("the prompt is 256 tokens, but this model's context is 256 tokens (from max_position_embeddings in config.json)")
  })

  it('new tokens are capped at what the context leaves', () => {
    expect(newTokenBudget(250, 100, 256)).toBe(6)
    expect(newTokenBudget(10, 100, 256)).toBe(100)
  })

  it('a token id outside the vocabulary', () => {
    expect(() => checkTokenIds([1, 300], 300)).toThrow("token id 300 is outside this model's vocabulary (0..299)")
    expect(() => checkTokenIds([0, 299], 300)).not.toThrow()
  })
})
