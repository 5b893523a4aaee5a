import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll } from 'vitest'
import { chatFormatterFor } from '../../../../src-main/engine/tokenizer/chat-template'
import type { ChatFormatter } from '../../../../src-main/engine/tokenizer/chat-template'
import { loadTokenizer } from '../../../../src-main/engine/tokenizer/tokenizer'
import type { TextTokenizer } from '../../../../src-main/engine/tokenizer/tokenizer'
import type { TokenizedRecord } from '../../../../src-main/engine/data'
import { byteLevelTokenizerJson, modelDir } from '../tokenizer/fixtures'

const dirs: string[] = []
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

/** Writes a dataset file (objects and arrays as JSON) in a temp folder removed after the test file. */
export function datasetFile(name: string, content: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'sorted-data-'))
  dirs.push(dir)
  const file = join(dir, name)
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content, null, 2))
  return file
}

/** JSON lines, one object per line. */
export function jsonl(...records: unknown[]): string {
  return records.map((r) => JSON.stringify(r)).join('\n') + '\n'
}

/** GPT-2's byte → printable character map, as byte-level BPE vocabularies spell bytes. */
function byteChars(): string[] {
  const chars: string[] = []
  let extra = 0
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)
    chars.push(String.fromCodePoint(printable ? b : 256 + extra++))
  }
  return chars
}

/**
 * The tokenizer fixture's byte-level BPE (<s> 0, </s> 1, <|im_end|> 2, "hi"
 * and " hi" merged), with every byte added to its vocabulary so it encodes
 * any text, plus <|im_start|>: small enough to reason about, real enough
 * to merge across a boundary.
 */
export function byteTokenizerJson() {
  const json = byteLevelTokenizerJson()
  const vocab: Record<string, number> = { ...json.model.vocab }
  let next = Math.max(...Object.values(vocab)) + 1
  for (const char of byteChars()) if (!(char in vocab)) vocab[char] = next++
  const imStart = next
  vocab['<|im_start|>'] = imStart
  const special = { id: imStart, content: '<|im_start|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }
  return { ...json, added_tokens: [...json.added_tokens, special], model: { ...json.model, vocab } }
}

/** ChatML, as Qwen2 and SmolLM write it. */
export const CHATML =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"

/** The byte tokenizer in a model folder (EOS </s>), with a chat template when given one. */
export function byteModel(chatTemplate?: string): { tokenizer: TextTokenizer; formatter: ChatFormatter | undefined } {
  const config = { bos_token: '<s>', eos_token: '</s>', ...(chatTemplate === undefined ? {} : { chat_template: chatTemplate }) }
  const dir = modelDir({ 'tokenizer.json': byteTokenizerJson(), 'tokenizer_config.json': config })
  const tokenizer = loadTokenizer(dir)!
  return { tokenizer, formatter: chatFormatterFor(dir, tokenizer) }
}

/** The ids whose labels are not ignored. */
export function learned(record: Pick<TokenizedRecord, 'inputIds' | 'labels'>): number[] {
  return record.inputIds.filter((_, t) => record.labels[t] !== -100)
}

/** A tokenized record from ids, with labels on the ids at the given positions (all when omitted). */
export function tokens(ids: number[], learnedFrom = 0, file = 'mem'): TokenizedRecord {
  return { inputIds: ids, labels: ids.map((id, t) => (t >= learnedFrom ? id : -100)), source: { file } }
}
