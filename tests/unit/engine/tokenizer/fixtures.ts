import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll } from 'vitest'

const dirs: string[] = []
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

/** A model folder holding the given files (objects are written as JSON), removed after the test file. */
export function modelDir(files: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'sorted-tokenizer-'))
  dirs.push(dir)
  for (const [name, content] of Object.entries(files)) {
    writeFileSync(join(dir, name), typeof content === 'string' ? content : JSON.stringify(content))
  }
  return dir
}

function addedToken(id: number, content: string) {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }
}

/** Vocabulary entries and merges that build each word from its first character, left to right. */
function wordsByMerges(words: string[], firstId: number): { vocab: Record<string, number>; merges: string[] } {
  const vocab: Record<string, number> = {}
  const merges: string[] = []
  let next = firstId
  const add = (token: string) => {
    if (!(token in vocab)) vocab[token] = next++
  }
  for (const word of words) {
    const chars = [...word]
    chars.forEach(add)
    let prefix = chars[0]!
    for (const char of chars.slice(1)) {
      if (!merges.includes(`${prefix} ${char}`)) merges.push(`${prefix} ${char}`)
      prefix += char
      add(prefix)
    }
  }
  return { vocab, merges }
}

/**
 * A GPT-2-style byte-level BPE (as Llama 3, Qwen and SmolLM use) that knows
 * "hi" and " hi", and adds <s> in front of what it encodes. Ids: <s> 0,
 * </s> 1, <|im_end|> 2.
 */
export function byteLevelTokenizerJson() {
  const { vocab, merges } = wordsByMerges(['Ġhi', 'hi'], 3)
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [addedToken(0, '<s>'), addedToken(1, '</s>'), addedToken(2, '<|im_end|>')],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [0], tokens: ['<s>'] } },
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      vocab: { '<s>': 0, '</s>': 1, '<|im_end|>': 2, ...vocab },
      merges,
    },
  }
}

/**
 * A SentencePiece-style BPE as TinyLlama and Llama 2 ship it: spaces become ▁
 * with one prepended, characters outside the vocabulary fall back to byte
 * tokens <0x00>…<0xFF> (ids 3…258), and decoding strips the prepended space.
 * Knows the words "Hello" and "world".
 */
export function sentencePieceTokenizerJson() {
  const bytes: Record<string, number> = {}
  for (let b = 0; b < 256; b++) bytes[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = 3 + b
  const { vocab, merges } = wordsByMerges(['▁', '▁Hello', '▁world', '!'], 259)
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [addedToken(0, '<unk>'), addedToken(1, '<s>'), addedToken(2, '</s>')],
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: '▁' },
        { type: 'Replace', pattern: { String: ' ' }, content: '▁' },
      ],
    },
    pre_tokenizer: null,
    post_processor: null,
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      vocab: { '<unk>': 0, '<s>': 1, '</s>': 2, ...bytes, ...vocab },
      merges,
    },
  }
}
