import { describe, expect, it } from 'vitest'
import { RecordFormatError, tokenizeRecord } from '../../../../src-main/engine/data'
import type { DatasetRecord } from '../../../../src-main/engine/data'
import type { ChatMessage } from '../../../../src-main/engine/tokenizer/chat-template'
import { alpacaPrompt } from '../../../../src-main/engine/tokenizer/chat-template'
import { CHATML, byteModel, learned } from './fixtures'

const source = { file: 'data.jsonl', line: 1 }
const instruction = (instruction: string, output: string, input?: string): DatasetRecord => ({
  kind: 'instruction',
  source,
  instruction,
  output,
  ...(input === undefined ? {} : { input }),
})
const conversation = (...messages: ChatMessage[]): DatasetRecord => ({ kind: 'conversation', source, messages })

describe('Alpaca formatting (no chat template)', () => {
  const { tokenizer } = byteModel()
  const EOS = 1

  it('is BOS + the Alpaca prompt + the response + EOS, with the loss on the response and EOS only', () => {
    const record = tokenizeRecord(instruction('Greet me.', 'hi hi, friend'), { tokenizer })
    const prompt = alpacaPrompt('Greet me.')
    expect(record.inputIds).toEqual([...tokenizer.encode(prompt + 'hi hi, friend'), EOS])
    expect(record.inputIds[0]).toBe(tokenizer.bosTokenId)
    expect(record.labels).toHaveLength(record.inputIds.length)
    expect(tokenizer.decode(learned(record))).toBe('hi hi, friend</s>')
    // Everything before the response is masked, and labels are the ids themselves (unshifted).
    const firstLearned = record.labels.findIndex((l) => l !== -100)
    expect(tokenizer.decode(record.inputIds.slice(0, firstLearned))).toBe(`<s>${prompt}`)
    record.labels.forEach((label, t) => expect(label === -100 || label === record.inputIds[t]).toBe(true))
    expect(record.source).toBe(source)
  })

  it('uses the input variant of the prompt when there is an input', () => {
    const record = tokenizeRecord(instruction('Translate.', 'cat', 'chat'), { tokenizer })
    expect(tokenizer.decode(record.inputIds)).toBe(`<s>${alpacaPrompt('Translate.', 'chat')}cat</s>`)
    expect(tokenizer.decode(learned(record))).toBe('cat</s>')
  })

  it('learns EOS alone for an empty response, and does not add a second EOS to one that ends with it', () => {
    expect(tokenizer.decode(learned(tokenizeRecord(instruction('Say nothing.', ''), { tokenizer })))).toBe('</s>')
    const ended = tokenizeRecord(instruction('Stop.', 'ok</s>'), { tokenizer })
    expect(tokenizer.decode(learned(ended))).toBe('ok</s>')
    expect(ended.inputIds.filter((id) => id === EOS)).toHaveLength(1)
  })

  it('turns a conversation into one Alpaca exchange per assistant turn, system text first', () => {
    const record = tokenizeRecord(
      conversation(
        { role: 'system', content: 'Be kind.' },
        { role: 'user', content: 'Hello' },
        { role: 'assistant', content: 'hi' },
        { role: 'user', content: 'Again' },
        { role: 'assistant', content: ' hi hi' },
      ),
      { tokenizer },
    )
    expect(tokenizer.decode(record.inputIds)).toBe(
      `<s>Be kind.\n\n${alpacaPrompt('Hello')}hi</s>${alpacaPrompt('Again')} hi hi</s>`,
    )
    expect(tokenizer.decode(learned(record))).toBe('hi</s> hi hi</s>')
  })

  it('refuses an assistant turn with no instruction before it', () => {
    expect(() => tokenizeRecord(conversation({ role: 'assistant', content: 'hi' }), { tokenizer })).toThrow(RecordFormatError)
  })

  it('needs a tokenizer for text, and passes token records through', () => {
    expect(() => tokenizeRecord(instruction('a', 'b'), {})).toThrow(/tokenizer/)
    const tokens: DatasetRecord = { kind: 'tokens', source, inputIds: [4, 5, 6], labels: [-100, 5, 6] }
    expect(tokenizeRecord(tokens, {})).toEqual({ inputIds: [4, 5, 6], labels: [-100, 5, 6], source })
  })
})

describe('chat template formatting', () => {
  it('learns each assistant turn through its end-of-turn token; system, user and headers are masked', () => {
    const { tokenizer, formatter } = byteModel(CHATML)
    const record = tokenizeRecord(
      conversation(
        { role: 'system', content: 'Be kind.' },
        { role: 'user', content: 'Hello' },
        { role: 'assistant', content: 'hi there' },
        { role: 'user', content: 'Again' },
        { role: 'assistant', content: 'hi' },
      ),
      { tokenizer, formatter },
    )
    // Encoded without added special tokens (the template writes its own),
    // and without the "\n" after the last <|im_end|>, which nothing learns.
    expect(tokenizer.decode(record.inputIds)).toBe(
      '<|im_start|>system\nBe kind.<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\nhi there<|im_end|>\n' +
        '<|im_start|>user\nAgain<|im_end|>\n<|im_start|>assistant\nhi<|im_end|>',
    )
    expect(tokenizer.decode(learned(record))).toBe('hi there<|im_end|>hi<|im_end|>')
    // No EOS appended: the template ends the response with <|im_end|>.
    expect(record.inputIds).not.toContain(1)
  })

  it('formats an Alpaca record as one user message, the input after the instruction', () => {
    const { tokenizer, formatter } = byteModel(CHATML)
    const record = tokenizeRecord(instruction('Translate.', 'cat', 'chat'), { tokenizer, formatter })
    expect(tokenizer.decode(record.inputIds)).toBe(
      '<|im_start|>user\nTranslate.\n\nchat<|im_end|>\n<|im_start|>assistant\ncat<|im_end|>',
    )
    expect(tokenizer.decode(learned(record))).toBe('cat<|im_end|>')
  })

  it('appends EOS when the template does not end a response with a special token, and learns a token merged across the boundary', () => {
    const plain =
      "{% for m in messages %}{{ m.role + ': ' + m.content + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ 'assistant: ' }}{% endif %}"
    const { tokenizer, formatter } = byteModel(plain)
    const record = tokenizeRecord(conversation({ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hi' }), {
      tokenizer,
      formatter,
    })
    // The generation prompt ends with the space of "assistant: ", which the
    // tokenizer merges with the response's "hi" into one token " hi": learned.
    expect(tokenizer.decode(record.inputIds)).toBe('user: hi\nassistant: hi\n</s>')
    expect(tokenizer.decode(learned(record))).toBe(' hi\n</s>')
  })

  it('refuses a template whose prompt for a turn is not how the whole conversation begins', () => {
    const inconsistent = "{% for m in messages %}{{ m.content }}{% endfor %}{% if add_generation_prompt %}<|im_start|>{% endif %}"
    const { tokenizer, formatter } = byteModel(inconsistent)
    expect(() =>
      tokenizeRecord(conversation({ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hi' }), { tokenizer, formatter }),
    ).toThrow(/cannot be told apart from the prompt/)
  })
})
