/**
 * A trained byte-level BPE as the files of a Hugging Face model folder:
 * `tokenizer.json` (what `loadTokenizer` and transformers read) and
 * `tokenizer_config.json` (bos/eos/pad and the chat template).
 */
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { TOKENIZER_CONFIG_FILE, TOKENIZER_FILE } from '../files'

export interface ByteLevelBpeSpec {
  vocab: Map<string, number>
  merges: [string, string][]
  /** Control tokens, by their text; each must be in the vocabulary. */
  specialTokens: string[]
  /** Put in front of every encoded text (when special tokens are added). */
  bosToken?: string
  eosToken?: string
}

/**
 * ChatML: `<|im_start|>role\n…<|im_end|>\n` per message, after the BOS
 * token, and `<|im_start|>assistant\n` when a reply is wanted. The template
 * writes the BOS itself, so its output is encoded without special tokens.
 */
export const CHATML_TEMPLATE =
  "{{- bos_token if bos_token is defined else '' }}" +
  '{%- for message in messages %}' +
  "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}" +
  '{%- endfor %}' +
  "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"

/** The tokenizer.json object for a byte-level BPE. */
export function tokenizerJson(spec: ByteLevelBpeSpec): Record<string, unknown> {
  const { vocab, merges, specialTokens, bosToken } = spec
  const idOf = (token: string): number => {
    const id = vocab.get(token)
    if (id === undefined) throw new Error(`token ${JSON.stringify(token)} is not in the vocabulary`)
    return id
  }
  for (const token of [...specialTokens, spec.eosToken].filter((t) => t !== undefined)) idOf(token)
  const byteLevel = { add_prefix_space: false, trim_offsets: true, use_regex: true }
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specialTokens.map((content) => ({
      id: idOf(content),
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', ...byteLevel },
    post_processor:
      bosToken === undefined
        ? { type: 'ByteLevel', ...byteLevel }
        : {
            type: 'TemplateProcessing',
            single: [{ SpecialToken: { id: bosToken, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
            pair: [
              { SpecialToken: { id: bosToken, type_id: 0 } },
              { Sequence: { id: 'A', type_id: 0 } },
              { SpecialToken: { id: bosToken, type_id: 1 } },
              { Sequence: { id: 'B', type_id: 1 } },
            ],
            special_tokens: { [bosToken]: { id: bosToken, ids: [idOf(bosToken)], tokens: [bosToken] } },
          },
    decoder: { type: 'ByteLevel', ...byteLevel },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: Object.fromEntries([...vocab].sort(([, x], [, y]) => x - y)),
      merges,
    },
  }
}

export interface TokenizerConfigOptions {
  /** Jinja chat template; {@link CHATML_TEMPLATE} unless given, none when null. */
  chatTemplate?: string | null
  /** Defaults to the eos token. */
  padToken?: string
  modelMaxLength?: number
}

/** The tokenizer_config.json object: special tokens by role, and the chat template. */
export function tokenizerConfigJson(spec: ByteLevelBpeSpec, options: TokenizerConfigOptions = {}): Record<string, unknown> {
  const { chatTemplate = CHATML_TEMPLATE, modelMaxLength = 2048 } = options
  const padToken = options.padToken ?? spec.eosToken
  const addedTokensDecoder = Object.fromEntries(
    spec.specialTokens.map((content) => [
      String(spec.vocab.get(content)),
      { content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true },
    ]),
  )
  return {
    tokenizer_class: 'PreTrainedTokenizerFast',
    added_tokens_decoder: addedTokensDecoder,
    ...(spec.bosToken === undefined ? {} : { bos_token: spec.bosToken }),
    ...(spec.eosToken === undefined ? {} : { eos_token: spec.eosToken }),
    ...(padToken === undefined ? {} : { pad_token: padToken }),
    model_max_length: modelMaxLength,
    clean_up_tokenization_spaces: false,
    ...(chatTemplate === null ? {} : { chat_template: chatTemplate }),
  }
}

/**
 * Writes tokenizer.json and tokenizer_config.json into `dir` (created if
 * missing). Each file is written whole under a temporary name and renamed,
 * so a reader never sees half a file.
 */
export function writeTokenizerFiles(dir: string, spec: ByteLevelBpeSpec, options: TokenizerConfigOptions = {}): void {
  mkdirSync(dir, { recursive: true })
  writeAtomically(join(dir, TOKENIZER_FILE), JSON.stringify(tokenizerJson(spec), null, 2))
  writeAtomically(join(dir, TOKENIZER_CONFIG_FILE), JSON.stringify(tokenizerConfigJson(spec, options), null, 2))
}

function writeAtomically(file: string, content: string): void {
  const temp = `${file}.${process.pid}.${Date.now()}.tmp`
  try {
    writeFileSync(temp, content)
    renameSync(temp, file)
  } catch (err) {
    rmSync(temp, { force: true })
    throw err
  }
}
