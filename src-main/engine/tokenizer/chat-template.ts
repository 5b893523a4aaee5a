import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Template } from '@huggingface/jinja'
import {
  CHAT_TEMPLATE_FILE,
  TOKENIZER_CONFIG_FILE,
  TokenizerFileError,
  messageOf,
  readTokenizerConfig,
  tokenContent,
} from './files'
import type { TokenizerConfig } from './files'
import type { TextTokenizer } from './tokenizer'

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant'
  content: string
}

/** The variables a Hugging Face chat template is rendered with. */
export interface ChatTemplateContext {
  messages: ChatMessage[]
  add_generation_prompt: boolean
  bos_token?: string
  eos_token?: string
  [name: string]: unknown
}

/**
 * A conversation as the prompt text the model was tuned on. Encode the
 * result without adding special tokens: the template writes them itself.
 */
export interface ChatFormatter {
  format(messages: ChatMessage[], options: { addGenerationPrompt: boolean }): string
}

/** Renders a chat template; a template that fails names itself by `source`. */
export function renderChat(template: string, context: ChatTemplateContext, source = 'chat template'): string {
  return compile(template, source)(context)
}

/**
 * The model's own chat format, from `chat_template.jinja` or the
 * `chat_template` of tokenizer_config.json (a string, or named templates of
 * which 'default' is used); undefined when the model has none, and callers
 * fall back to {@link alpacaPrompt}.
 */
export function chatFormatterFor(dir: string, tokenizer?: TextTokenizer): ChatFormatter | undefined {
  const config = readTokenizerConfig(dir) ?? {}
  const found = findTemplate(dir, config)
  if (found === undefined) return undefined
  const render = compile(found.template, found.source)
  const specialTokens = specialTokenVariables(config, tokenizer)
  return {
    format(messages, { addGenerationPrompt }) {
      return render({ ...specialTokens, messages, add_generation_prompt: addGenerationPrompt })
    },
  }
}

function findTemplate(dir: string, config: TokenizerConfig): { template: string; source: string } | undefined {
  // Newer exports keep the template in its own file, which then wins over
  // the config (as in transformers).
  const jinjaFile = join(dir, CHAT_TEMPLATE_FILE)
  if (existsSync(jinjaFile)) {
    try {
      return { template: readFileSync(jinjaFile, 'utf8'), source: jinjaFile }
    } catch (err) {
      throw new TokenizerFileError(jinjaFile, `cannot be read (${messageOf(err)})`)
    }
  }
  const configFile = join(dir, TOKENIZER_CONFIG_FILE)
  const { chat_template: chatTemplate } = config
  if (chatTemplate === undefined || chatTemplate === null) return undefined
  if (typeof chatTemplate === 'string') return { template: chatTemplate, source: configFile }
  if (Array.isArray(chatTemplate)) {
    const named = chatTemplate.find((t) => t?.name === 'default')
    if (named === undefined || typeof named.template !== 'string') {
      throw new TokenizerFileError(configFile, 'chat_template lists named templates but none named "default"')
    }
    return { template: named.template, source: configFile }
  }
  throw new TokenizerFileError(configFile, 'chat_template must be a string or a list of named templates')
}

/** bos_token, eos_token, pad_token… as the template expects them: their text. */
function specialTokenVariables(config: TokenizerConfig, tokenizer: TextTokenizer | undefined): Record<string, unknown> {
  const variables: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(config)) {
    if (!key.endsWith('_token')) continue
    const content = tokenContent(value)
    if (content !== undefined) variables[key] = content
  }
  const additional = (config.additional_special_tokens ?? []).map(tokenContent).filter((t) => t !== undefined)
  if (additional.length > 0) variables.additional_special_tokens = additional
  // A config without bos/eos text: name the tokens the tokenizer knows by id.
  if (tokenizer !== undefined) {
    const textOf = (id: number | undefined): string | undefined =>
      [...tokenizer.specialTokens].find(([, tokenId]) => tokenId === id)?.[0]
    variables.bos_token ??= textOf(tokenizer.bosTokenId)
    variables.eos_token ??= textOf(tokenizer.eosTokenIds[0])
    if (variables.bos_token === undefined) delete variables.bos_token
    if (variables.eos_token === undefined) delete variables.eos_token
  }
  return variables
}

function compile(template: string, source: string): (context: ChatTemplateContext) => string {
  let parsed: Template
  try {
    parsed = new Template(template)
  } catch (err) {
    throw new TokenizerFileError(source, `chat template does not parse (${messageOf(err)})`)
  }
  return (context) => {
    try {
      return parsed.render(context)
    } catch (err) {
      throw new TokenizerFileError(source, `chat template failed (${messageOf(err)})`)
    }
  }
}

/**
 * The Stanford Alpaca prompt, for models without a chat template. An empty
 * input counts as none, as in the Alpaca data.
 */
export function alpacaPrompt(instruction: string, input?: string): string {
  if (input === undefined || input === '') {
    return (
      'Below is an instruction that describes a task. ' +
      'Write a response that appropriately completes the request.\n\n' +
      `### Instruction:\n${instruction}\n\n### Response:\n`
    )
  }
  return (
    'Below is an instruction that describes a task, paired with an input that provides further context. ' +
    'Write a response that appropriately completes the request.\n\n' +
    `### Instruction:\n${instruction}\n\n### Input:\n${input}\n\n### Response:\n`
  )
}
