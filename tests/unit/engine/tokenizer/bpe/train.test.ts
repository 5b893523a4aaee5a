import { describe, expect, it } from 'vitest'
import { byteLevelWords } from '../../../../../src-main/engine/tokenizer/bpe/byte-level'
import { trainByteLevelBpe } from '../../../../../src-main/engine/tokenizer/bpe/train'
import { wordyCorpus } from './corpus'

const SPECIALS = ['<|begin_of_text|>', '<|end_of_text|>', '<|im_start|>', '<|im_end|>', '<|pad|>']
const corpus = wordyCorpus({ bytes: 200_000, words: 2000 })

describe('training a byte-level BPE', () => {
  it('fills the vocabulary exactly: special tokens, 256 bytes, then merges, ids 0…vocabSize-1', () => {
    const { vocab, merges } = trainByteLevelBpe(corpus, { vocabSize: 1000, specialTokens: SPECIALS })
    expect(vocab.size).toBe(1000)
    expect(merges.length).toBeGreaterThanOrEqual(1000 - 256 - SPECIALS.length)
    expect([...vocab.values()].sort((a, b) => a - b)).toEqual([...Array(1000).keys()])
  })

  it('gives the special tokens ids 0…k-1 in the order given, and bytes the next 256 in byte order', () => {
    const { vocab } = trainByteLevelBpe(corpus, { vocabSize: 400, specialTokens: SPECIALS })
    SPECIALS.forEach((token, id) => expect(vocab.get(token)).toBe(id))
    expect(vocab.get('!')).toBe(SPECIALS.length + 0x21)
    expect(vocab.get('Ġ')).toBe(SPECIALS.length + 0x20)
    expect(vocab.get('Ċ')).toBe(SPECIALS.length + 0x0a)
  })

  it('names each merge by the two tokens it joins, and their join is a token', () => {
    const { vocab, merges } = trainByteLevelBpe(corpus, { vocabSize: 600, specialTokens: SPECIALS })
    for (const [a, b] of merges) {
      expect(vocab.has(a) && vocab.has(b) && vocab.has(a + b)).toBe(true)
      expect(vocab.get(a + b)!).toBeGreaterThan(Math.max(vocab.get(a)!, vocab.get(b)!))
    }
  })

  it('first merges the most frequent pair', () => {
    const { merges } = trainByteLevelBpe(['ab ab ab cd cd'], { vocabSize: 257, specialTokens: [] })
    expect(merges).toEqual([['a', 'b']])
  })

  it('breaks ties between equally frequent pairs by their text', () => {
    const { merges } = trainByteLevelBpe(['yz yz ab ab'], { vocabSize: 258, specialTokens: [] })
    expect(merges).toEqual([
      ['a', 'b'],
      ['y', 'z'],
    ])
  })

  it('is deterministic: the same corpus, in any order, gives the same tokenizer', () => {
    const options = { vocabSize: 800, specialTokens: SPECIALS }
    const first = trainByteLevelBpe(corpus, options)
    const again = trainByteLevelBpe(corpus, options)
    const reversed = trainByteLevelBpe([...corpus].reverse(), options)
    expect(again.merges).toEqual(first.merges)
    expect(again.vocab).toEqual(first.vocab)
    expect(reversed.merges).toEqual(first.merges)
    expect(reversed.vocab).toEqual(first.vocab)
  })

  it('learns a frequent word as one token, with its leading space', () => {
    const texts = Array.from({ length: 50 }, () => 'the tokenizer learns a tokenizer word')
    const { vocab } = trainByteLevelBpe(texts, { vocabSize: 320, specialTokens: [] })
    expect(vocab.has('Ġtokenizer')).toBe(true)
  })

  it('learns nothing from special tokens written in the training text', () => {
    const texts = Array.from({ length: 50 }, () => '<|im_start|>user\nhello there<|im_end|>\n')
    const { vocab } = trainByteLevelBpe(texts, { vocabSize: 400, minFrequency: 1, specialTokens: SPECIALS })
    const learned = [...vocab.keys()].filter((token) => vocab.get(token)! >= SPECIALS.length + 256)
    expect(learned.length).toBeGreaterThan(0)
    expect(learned.filter((token) => token.includes('|'))).toEqual([])
  })

  it('stops early, with a smaller vocabulary, when no pair is seen minFrequency times', () => {
    const { vocab, merges } = trainByteLevelBpe(['abab cd'], { vocabSize: 1000, minFrequency: 2, specialTokens: [] })
    expect(merges).toEqual([['a', 'b']])
    expect(vocab.size).toBe(257)
  })

  it('keeps, on request, how it split each training word', () => {
    const { segmentations } = trainByteLevelBpe(['ab ab abc'], { vocabSize: 257, specialTokens: [], keepSegmentations: true })
    expect(segmentations).toEqual(
      new Map([
        ['ab', ['ab']],
        ['Ġab', ['Ġ', 'ab']],
        ['Ġabc', ['Ġ', 'ab', 'c']],
      ]),
    )
    expect(byteLevelWords('ab ab')).toEqual(['ab', 'Ġab'])
  })

  it('reports progress up to the vocabulary size', () => {
    const reports: { tokens: number; targetTokens: number }[] = []
    trainByteLevelBpe(corpus, { vocabSize: 1000, specialTokens: SPECIALS, onProgress: (p) => reports.push(p) })
    expect(reports.at(-1)).toEqual({ tokens: 1000, targetTokens: 1000 })
  })

  it('refuses a vocabulary too small for the special and byte tokens', () => {
    expect(() => trainByteLevelBpe(corpus, { vocabSize: 260, specialTokens: SPECIALS })).toThrow(/cannot hold 5 special tokens/)
  })
})
