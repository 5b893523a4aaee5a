/**
 * A real (tiny) model with a chat template and a 256-token context: long
 * conversations lose their oldest turns, long text and ids are refused
 * naming the limit, and answers stop where the context ends.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PromptError } from '../../../../src-main/engine/generate/context'
import { ModelSession } from '../../../../src-main/engine/generate/model-session'
import type { ChatMessage } from '../../../../src-main/engine/tokenizer/chat-template'
import { writeTinyTextModel } from '../../../fixtures/fixtures'

const root = mkdtempSync(join(tmpdir(), 'session-context-'))
const template = '{% for m in messages %}<{{ m.role }}>{{ m.content }}\n{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}'
let session: ModelSession

beforeAll(async () => {
  const dir = join(root, 'model')
  writeTinyTextModel(dir, { seed: 6, layers: 2, config: { eos_token_id: 9999, max_position_embeddings: 256 } })
  writeFileSync(join(dir, 'chat_template.jinja'), template)
  session = await ModelSession.open(dir)
})

afterAll(async () => {
  await session?.release()
  rmSync(root, { recursive: true, force: true })
})

const words = (n: number, word: string) => Array.from({ length: n }, () => word).join(' ')
const all = () => session.info.numLayers

describe('ModelSession within its context', () => {
  it('reports the context length', () => {
    expect(session.info.contextLength).toBe(256)
  })

  it('answers a conversation longer than the context, leaving out its oldest turns but keeping the system prompt', async () => {
    const messages: ChatMessage[] = [{ role: 'system', content: 'Be brief.' }]
    for (let i = 0; i < 8; i++) messages.push({ role: 'user', content: words(20, `q${i}`) }, { role: 'assistant', content: words(20, `a${i}`) })
    messages.push({ role: 'user', content: 'And now?' })
    const { ids, droppedMessages } = session.encode({ messages })
    expect(droppedMessages).toBeGreaterThan(0)
    expect(droppedMessages % 2).toBe(0) // whole turns
    expect(ids.length).toBeLessThan(256)
    // What is kept is the system prompt and the newest turns, as the template writes them.
    const kept = [messages[0]!, ...messages.slice(1 + droppedMessages)]
    expect(ids).toEqual(session.encode({ messages: kept }).ids)
    const result = await session.generate({ input: { messages }, maxNewTokens: 3, exitAt: all })
    expect(result).toMatchObject({ droppedMessages, promptTokens: ids.length })
    expect(result.tokens).toHaveLength(3)
  })

  it('refuses a latest message that cannot fit, naming the limit', () => {
    const messages: ChatMessage[] = [{ role: 'user', content: words(300, 'long') }]
    expect(() => session.encode({ messages })).toThrow(PromptError)
    expect(() => session.encode({ messages })).toThrow(/^the latest message comes to \d+ tokens, but this model's context is 256 tokens/)
  })

  it('refuses a text prompt or ids longer than the context, naming the limit', () => {
    expect(() => session.encode({ prompt: words(300, 'long') })).toThrow(/^the prompt is \d+ tokens, but this model's context is 256 tokens/)
    expect(() => session.encode({ promptIds: new Array(256).fill(5) })).toThrow("the prompt is 256 tokens, but this model's context is 256 tokens")
  })

  it('stops an answer where the context ends', async () => {
    const result = await session.generate({ input: { promptIds: new Array(250).fill(5) }, maxNewTokens: 50, exitAt: all })
    expect(result.finishReason).toBe('length')
    expect(result.tokens).toHaveLength(6)
  })
})
