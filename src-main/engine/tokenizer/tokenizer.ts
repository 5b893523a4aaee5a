import { join } from 'node:path'
import { Tokenizer } from '@huggingface/tokenizers'
import {
  GENERATION_CONFIG_FILE,
  TOKENIZER_FILE,
  TokenizerFileError,
  isObject,
  messageOf,
  readJsonFile,
  readTokenizerConfig,
  tokenContent,
} from './files'
import type { TokenizerConfig } from './files'

/** What the engine needs from a tokenizer: text to ids, ids to text, and the ids that mean something. */
export interface TextTokenizer {
  /** Ids for the text; special tokens written in the text (`<|eot_id|>`) become their ids. */
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[]
  decode(ids: number[], options?: { skipSpecialTokens?: boolean }): string
  readonly bosTokenId?: number
  /** Every id that ends generation: the config's eos token and generation_config.json's eos ids. */
  readonly eosTokenIds: number[]
  /** Special (control) tokens by their text. */
  readonly specialTokens: Map<string, number>
  tokenToId(token: string): number | undefined
  /** One more than the largest id, added tokens included. */
  readonly vocabSize: number
}

/**
 * The tokenizer of a Hugging Face model folder (`tokenizer.json`, with
 * `tokenizer_config.json` and `generation_config.json` when present), or
 * undefined when the folder has no tokenizer.json: such a model still runs
 * on raw ids.
 */
export function loadTokenizer(dir: string): TextTokenizer | undefined {
  const file = join(dir, TOKENIZER_FILE)
  const json = readJsonFile(file)
  if (json === undefined) return undefined
  const config = readTokenizerConfig(dir) ?? {}
  const generationConfig = readJsonFile(join(dir, GENERATION_CONFIG_FILE))
  try {
    return tokenizerFromJson(json, config, isObject(generationConfig) ? generationConfig : {})
  } catch (err) {
    throw new TokenizerFileError(file, messageOf(err))
  }
}

/** A tokenizer from the parsed contents of tokenizer.json (and its configs). */
export function tokenizerFromJson(
  tokenizerJson: unknown,
  config: TokenizerConfig = {},
  generationConfig: Record<string, unknown> = {},
): TextTokenizer {
  if (!isObject(tokenizerJson) || !isObject(tokenizerJson.model)) {
    throw new Error('not a Hugging Face tokenizer.json (no "model" object)')
  }
  // The library reads optional sections with `in`; older or hand-written
  // files leave some out.
  const complete = { normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, added_tokens: [], ...tokenizerJson }
  // The library expects additional special tokens as plain strings.
  const additionalSpecialTokens = (config.additional_special_tokens ?? []).map(tokenContent).filter((t) => t !== undefined)
  const hf = new Tokenizer(complete, { ...config, additional_special_tokens: additionalSpecialTokens })

  const vocab = hf.get_vocab(true)
  let vocabSize = 0
  for (const id of vocab.values()) vocabSize = Math.max(vocabSize, id + 1)

  const specialTokens = new Map<string, number>()
  for (const token of hf.get_added_tokens_decoder().values()) {
    if (token.special) specialTokens.set(token.content, token.id)
  }
  for (const content of additionalSpecialTokens) {
    const id = hf.token_to_id(content)
    if (id !== undefined) specialTokens.set(content, id)
  }

  const idOf = (spec: unknown): number | undefined => {
    const content = tokenContent(spec)
    return content === undefined ? undefined : hf.token_to_id(content)
  }
  const bosTokenId = idOf(config.bos_token) ?? integerIds(generationConfig.bos_token_id)[0]
  // Instruct models often end a turn with a token other than the
  // tokenizer's eos (Llama 3: <|eot_id|>); generation_config.json lists them all.
  const eosTokenIds = [...new Set([idOf(config.eos_token), ...integerIds(generationConfig.eos_token_id)])].filter(
    (id): id is number => id !== undefined,
  )

  return {
    encode(text, options = {}) {
      return hf.encode(text, { add_special_tokens: options.addSpecialTokens ?? true }).ids
    },
    decode(ids, options = {}) {
      if (ids.length === 0) return ''
      // No clean-up of "tokenization spaces" (` .` → `.`, ` n't` → `n't`),
      // whatever the config asks: it is a heuristic from WordPiece days that
      // makes decoding lossy for byte-level BPE and would make streamed text
      // differ from decoded text.
      return hf.decode(ids, { skip_special_tokens: options.skipSpecialTokens ?? false, clean_up_tokenization_spaces: false })
    },
    ...(bosTokenId === undefined ? {} : { bosTokenId }),
    eosTokenIds,
    specialTokens,
    tokenToId: (token) => hf.token_to_id(token),
    vocabSize,
  }
}

function integerIds(value: unknown): number[] {
  const values = Array.isArray(value) ? value : [value]
  return values.filter((v): v is number => Number.isInteger(v))
}

/** Text for generated ids as they arrive. */
export interface DecodeStream {
  /** New text for this id; '' while a multi-byte character or a merge is still incomplete. */
  push(id: number): string
  /** What is still held back, at the end of generation. */
  flush(): string
}

/**
 * Streaming detokenizer. Decoding ids one at a time breaks characters that
 * span several byte tokens and loses the spaces some decoders strip from a
 * first token, so each step decodes a window that starts a few ids back (at
 * the last point text was emitted) and emits only what the newest ids added,
 * once it does not end in an incomplete character (U+FFFD). The emitted
 * pieces, with flush(), add up to decode(all ids).
 */
export function createDecodeStream(tokenizer: TextTokenizer, options: { skipSpecialTokens?: boolean } = {}): DecodeStream {
  const ids: number[] = []
  // ids[prefixOffset, readOffset) is text already emitted, kept as context
  // for the ids after it.
  let prefixOffset = 0
  let readOffset = 0
  const pending = (): { text: string; emittedLength: number } => ({
    text: tokenizer.decode(ids.slice(prefixOffset), options),
    emittedLength: tokenizer.decode(ids.slice(prefixOffset, readOffset), options).length,
  })
  const advance = (): void => {
    prefixOffset = readOffset
    readOffset = ids.length
  }
  return {
    push(id) {
      ids.push(id)
      const { text, emittedLength } = pending()
      if (text.length <= emittedLength || text.endsWith('\uFFFD')) return ''
      advance()
      return text.slice(emittedLength)
    },
    flush() {
      const { text, emittedLength } = pending()
      if (text.length <= emittedLength) return ''
      advance()
      return text.slice(emittedLength)
    },
  }
}
