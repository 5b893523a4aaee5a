import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { byteLevelWords } from '../../../../../src-main/engine/tokenizer/bpe/byte-level'
import { tokenizerConfigJson, tokenizerJson, writeTokenizerFiles } from '../../../../../src-main/engine/tokenizer/bpe/save'
import type { ByteLevelBpeSpec } from '../../../../../src-main/engine/tokenizer/bpe/save'
import { trainByteLevelBpe } from '../../../../../src-main/engine/tokenizer/bpe/train'
import { chatFormatterFor } from '../../../../../src-main/engine/tokenizer/chat-template'
import { loadTokenizer, tokenizerFromJson } from '../../../../../src-main/engine/tokenizer/tokenizer'
import { modelDir } from '../fixtures'
import { wordyCorpus } from './corpus'

const SPECIALS = ['<|begin_of_text|>', '<|end_of_text|>', '<|im_start|>', '<|im_end|>', '<|pad|>']
const corpus = [...wordyCorpus({ bytes: 200_000, words: 2000 }), ...Array.from({ length: 30 }, () => 'The tokenizer, trained. ')]
const trained = trainByteLevelBpe(corpus, { vocabSize: 1200, specialTokens: SPECIALS, keepSegmentations: true })
const spec: ByteLevelBpeSpec = {
  vocab: trained.vocab,
  merges: trained.merges,
  specialTokens: SPECIALS,
  bosToken: '<|begin_of_text|>',
  eosToken: '<|end_of_text|>',
}
const config = tokenizerConfigJson(spec)
const tokenizer = tokenizerFromJson(tokenizerJson(spec), config)

function savedFolder(): string {
  const dir = modelDir({})
  writeTokenizerFiles(dir, spec)
  return dir
}

describe('a trained byte-level BPE saved as tokenizer.json', () => {
  it('loads from its model folder, with BOS, EOS, special tokens and the full vocabulary', () => {
    const loaded = loadTokenizer(savedFolder())!
    expect(loaded.vocabSize).toBe(1200)
    expect(loaded.bosTokenId).toBe(0)
    expect(loaded.eosTokenIds).toEqual([1])
    expect(loaded.specialTokens).toEqual(new Map(SPECIALS.map((token, id) => [token, id])))
  })

  it('round-trips any text, seen in training or not: byte-level leaves nothing unknown', () => {
    const loaded = loadTokenizer(savedFolder())!
    const texts = [
      corpus[0]!,
      'Crème brûlée à la café — naïve façade.',
      '日本語のテキストと中文字符，한국어도.',
      'Emoji 👩‍👩‍👧 🎉🚀 and flags 🇫🇷!',
      '  tabs\tand\r\nnewlines\n\n   trailing spaces   ',
      "It's, they're, we'll — 3.14159 × 10^23; x<=y && z!=0",
      '',
    ]
    for (const text of texts) {
      const ids = loaded.encode(text, { addSpecialTokens: false })
      expect(loaded.decode(ids)).toBe(text)
      expect(ids.every((id) => id >= SPECIALS.length && id < 1200)).toBe(true)
    }
  })

  it('puts BOS in front when adding special tokens, and skips specials on request when decoding', () => {
    const ids = tokenizer.encode('The tokenizer')
    expect(ids[0]).toBe(0)
    expect(tokenizer.encode('The tokenizer', { addSpecialTokens: false })).toEqual(ids.slice(1))
    expect(tokenizer.decode([...ids, 1], { skipSpecialTokens: true })).toBe('The tokenizer')
  })

  it('encodes each special token written in text as its single id', () => {
    const ids = tokenizer.encode('<|im_start|>user\nhi<|im_end|><|pad|><|end_of_text|>', { addSpecialTokens: false })
    expect(ids[0]).toBe(2)
    expect(ids.slice(-3)).toEqual([3, 4, 1])
    expect(tokenizer.encode('<|begin_of_text|>', { addSpecialTokens: false })).toEqual([0])
  })

  it('applies the learned merges: a word frequent in the corpus is one token', () => {
    const ids = tokenizer.encode(' tokenizer', { addSpecialTokens: false })
    expect(ids).toEqual([trained.vocab.get('Ġtokenizer')])
  })

  it('encodes the training text exactly as training split it (Hugging Face tokenizers vs. our trainer)', () => {
    // Text by text, as it was counted: joining texts would change the words at their seams.
    const ids = (texts: string[], encode: (text: string) => number[]) => texts.flatMap(encode)
    const expected = ids(corpus, (text) =>
      byteLevelWords(text).flatMap((word) => trained.segmentations!.get(word)!.map((token) => trained.vocab.get(token)!)),
    )
    expect(expected.length).toBeGreaterThan(10_000)
    expect(ids(corpus, (text) => tokenizer.encode(text, { addSpecialTokens: false }))).toEqual(expected)
  })

  it('agrees with Hugging Face tokenizers on repetitive words too (runs like "aaaa", shared pieces)', () => {
    let seed = 7
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31
    for (let trial = 0; trial < 40; trial++) {
      const texts = Array.from({ length: 40 }, () => {
        const letters = Array.from({ length: 1 + Math.floor(random() * 12) }, () => 'aabc'[Math.floor(random() * 4)]!)
        return letters.join('') + (random() < 0.5 ? ' ' : '')
      })
      const small = trainByteLevelBpe(texts, { vocabSize: 256 + 40, minFrequency: 1, specialTokens: [], keepSegmentations: true })
      const hf = tokenizerFromJson(tokenizerJson({ vocab: small.vocab, merges: small.merges, specialTokens: [] }))
      for (const text of texts) {
        const expected = byteLevelWords(text).flatMap((word) => small.segmentations!.get(word)!.map((t) => small.vocab.get(t)!))
        expect(hf.encode(text, { addSpecialTokens: false })).toEqual(expected)
      }
    }
  })

  it('writes the files whole, leaving no temporary file behind', () => {
    const dir = savedFolder()
    expect(readdirSync(dir).sort()).toEqual(['tokenizer.json', 'tokenizer_config.json'])
    const json = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')) as { model: { merges: unknown } }
    expect(json.model.merges).toEqual(trained.merges)
  })

  it('writes tokenizer_config.json with the special tokens by role', () => {
    const saved = JSON.parse(readFileSync(join(savedFolder(), 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>
    expect(saved).toMatchObject({
      bos_token: '<|begin_of_text|>',
      eos_token: '<|end_of_text|>',
      pad_token: '<|end_of_text|>',
      model_max_length: 2048,
    })
    const padded = tokenizerConfigJson(spec, { padToken: '<|pad|>', modelMaxLength: 512, chatTemplate: null })
    expect(padded).toMatchObject({ pad_token: '<|pad|>', model_max_length: 512 })
    expect(padded).not.toHaveProperty('chat_template')
  })

  it('renders a conversation in ChatML, after BOS, with the generation prompt', () => {
    const formatter = chatFormatterFor(savedFolder())!
    const messages = [
      { role: 'system' as const, content: 'You are terse.' },
      { role: 'user' as const, content: 'Hi there!' },
    ]
    expect(formatter.format(messages, { addGenerationPrompt: true })).toBe(
      '<|begin_of_text|><|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi there!<|im_end|>\n<|im_start|>assistant\n',
    )
    expect(formatter.format(messages, { addGenerationPrompt: false })).toBe(
      '<|begin_of_text|><|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi there!<|im_end|>\n',
    )
  })

  it('refuses a special token missing from the vocabulary', () => {
    expect(() => tokenizerJson({ ...spec, specialTokens: [...SPECIALS, '<|unknown|>'] })).toThrow(/"<\|unknown\|>" is not in the vocabulary/)
  })
})
