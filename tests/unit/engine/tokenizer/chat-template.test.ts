import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { alpacaPrompt, chatFormatterFor, renderChat } from '../../../../src-main/engine/tokenizer/chat-template'
import type { ChatMessage } from '../../../../src-main/engine/tokenizer/chat-template'
import { loadTokenizer } from '../../../../src-main/engine/tokenizer/tokenizer'
import { byteLevelTokenizerJson, modelDir } from './fixtures'

// ChatML, as Qwen2 and SmolLM write it.
const CHATML =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"

const CONVERSATION: ChatMessage[] = [
  { role: 'system', content: 'Be brief.' },
  { role: 'user', content: 'Hi!' },
]

describe('chat templates', () => {
  it('renders a template with the messages, the generation prompt and the special tokens', () => {
    const template = '{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}{{ eos_token }}{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}'
    const context = { messages: CONVERSATION, bos_token: '<s>', eos_token: '</s>' }
    expect(renderChat(template, { ...context, add_generation_prompt: true })).toBe(
      '<s>[system] Be brief.</s>[user] Hi!</s>[assistant]',
    )
    expect(renderChat(template, { ...context, add_generation_prompt: false })).toBe('<s>[system] Be brief.</s>[user] Hi!</s>')
  })

  it('uses the chat_template string of tokenizer_config.json', () => {
    const dir = modelDir({ 'tokenizer_config.json': { chat_template: CHATML } })
    expect(chatFormatterFor(dir)!.format(CONVERSATION, { addGenerationPrompt: true })).toBe(
      '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n',
    )
  })

  it("uses the template named 'default' when the config lists several", () => {
    const dir = modelDir({
      'tokenizer_config.json': {
        chat_template: [
          { name: 'tool_use', template: 'tools' },
          { name: 'default', template: '{{ messages | length }} messages' },
        ],
      },
    })
    expect(chatFormatterFor(dir)!.format(CONVERSATION, { addGenerationPrompt: false })).toBe('2 messages')
  })

  it('prefers chat_template.jinja beside the config, as newer exports write it', () => {
    const dir = modelDir({ 'tokenizer_config.json': { chat_template: CHATML }, 'chat_template.jinja': 'from the file' })
    expect(chatFormatterFor(dir)!.format(CONVERSATION, { addGenerationPrompt: false })).toBe('from the file')
  })

  it('gives undefined for a model without a template, whose callers use the Alpaca prompt', () => {
    expect(chatFormatterFor(modelDir({ 'tokenizer_config.json': { bos_token: '<s>' } }))).toBeUndefined()
    expect(chatFormatterFor(modelDir({}))).toBeUndefined()
  })

  it('passes the config\'s special tokens, or those the tokenizer knows when the config names none', () => {
    const template = '{{ bos_token }}|{{ eos_token }}|{{ pad_token }}'
    const fromConfig = modelDir({
      'tokenizer_config.json': { chat_template: template, bos_token: { content: '<s>' }, eos_token: '</s>', pad_token: '<pad>' },
    })
    expect(chatFormatterFor(fromConfig)!.format([], { addGenerationPrompt: false })).toBe('<s>|</s>|<pad>')

    const fromIds = modelDir({
      'tokenizer.json': byteLevelTokenizerJson(),
      'tokenizer_config.json': { chat_template: template },
      'generation_config.json': { bos_token_id: 0, eos_token_id: 2 },
    })
    const tokenizer = loadTokenizer(fromIds)!
    expect(chatFormatterFor(fromIds, tokenizer)!.format([], { addGenerationPrompt: false })).toBe('<s>|<|im_end|>|')
  })

  it('names the file of a template that does not parse', () => {
    const dir = modelDir({ 'tokenizer_config.json': { chat_template: '{% for m in messages %}{{ m.content }}' } })
    expect(() => chatFormatterFor(dir)).toThrow(`${join(dir, 'tokenizer_config.json')}: chat template does not parse`)
  })

  it('names the file of a template that refuses a conversation', () => {
    const template = "{% if messages[0]['role'] != 'user' %}{{ raise_exception('Conversation must start with the user') }}{% endif %}ok"
    const dir = modelDir({ 'chat_template.jinja': template })
    const formatter = chatFormatterFor(dir)!
    expect(() => formatter.format(CONVERSATION, { addGenerationPrompt: true })).toThrow(
      `${join(dir, 'chat_template.jinja')}: chat template failed (Conversation must start with the user)`,
    )
  })

  it("names tokenizer_config.json when its named templates have no 'default'", () => {
    const dir = modelDir({ 'tokenizer_config.json': { chat_template: [{ name: 'rag', template: 'x' }] } })
    expect(() => chatFormatterFor(dir)).toThrow(`${join(dir, 'tokenizer_config.json')}: chat_template lists named templates`)
  })
})

describe('the Alpaca prompt', () => {
  it('without input', () => {
    expect(alpacaPrompt('Name a colour.')).toBe(
      'Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n' +
        '### Instruction:\nName a colour.\n\n### Response:\n',
    )
  })

  it('with input, and an empty input counts as none', () => {
    expect(alpacaPrompt('Translate to French.', 'Good morning')).toBe(
      'Below is an instruction that describes a task, paired with an input that provides further context. ' +
        'Write a response that appropriately completes the request.\n\n' +
        '### Instruction:\nTranslate to French.\n\n### Input:\nGood morning\n\n### Response:\n',
    )
    expect(alpacaPrompt('Name a colour.', '')).toBe(alpacaPrompt('Name a colour.'))
  })
})
