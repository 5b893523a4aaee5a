import { describe, expect, it } from 'vitest'
import { createDecodeStream, tokenizerFromJson } from '../../../../src-main/engine/tokenizer/tokenizer'
import { sentencePieceTokenizerJson } from './fixtures'

// TinyLlama / Llama 2 style: the decoder strips the space of the first
// token, and characters outside the vocabulary are byte tokens.
const tokenizer = tokenizerFromJson(sentencePieceTokenizerJson())

describe('streaming decode with a SentencePiece-style tokenizer', () => {
  it('keeps the space before each word that decoding one id at a time would lose', () => {
    const ids = tokenizer.encode('Hello world!')
    expect(ids.map((id) => tokenizer.decode([id]))).toEqual(['Hello', 'world', '!'])
    const stream = createDecodeStream(tokenizer)
    expect(ids.map((id) => stream.push(id))).toEqual(['Hello', ' world', '!'])
  })

  it('emits a character given as byte tokens only once all its bytes are in', () => {
    const ids = tokenizer.encode('Hello 🦙!')
    // ▁Hello, ▁, then 🦙 as its four UTF-8 bytes, then !
    expect(ids.slice(2, 6)).toEqual([0xf0, 0x9f, 0xa6, 0x99].map((b) => 3 + b))
    const stream = createDecodeStream(tokenizer)
    expect(ids.map((id) => stream.push(id))).toEqual(['Hello', ' ', '', '', '', '🦙', '!'])
  })

  it('adds up to the full decode for every prefix of the ids', () => {
    const ids = tokenizer.encode('Hello world, Ünïcödé 日本 🦙👍 world  Hello!')
    for (let end = 0; end <= ids.length; end++) {
      const stream = createDecodeStream(tokenizer)
      const pieces = ids.slice(0, end).map((id) => stream.push(id))
      for (const piece of pieces) expect(piece).not.toContain('\uFFFD')
      expect(pieces.join('') + stream.flush()).toBe(tokenizer.decode(ids.slice(0, end)))
    }
  })

  it('gives what is held back at flush, even an incomplete character', () => {
    const stream = createDecodeStream(tokenizer)
    expect([3 + 0xf0, 3 + 0x9f].map((id) => stream.push(id))).toEqual(['', ''])
    expect(stream.flush()).toBe('\uFFFD')
  })

  it('leaves out special tokens when asked, like decode', () => {
    const ids = [1, ...tokenizer.encode('Hello world'), 2]
    const stream = createDecodeStream(tokenizer, { skipSpecialTokens: true })
    const text = ids.map((id) => stream.push(id)).join('') + stream.flush()
    expect(text).toBe('Hello world')
    expect(text).toBe(tokenizer.decode(ids, { skipSpecialTokens: true }))
  })
})
