import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

/**
 * A tokenizer file that cannot be used, named by its path, so that a user
 * importing a model folder learns which of its files to fix.
 */
export class TokenizerFileError extends Error {
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`${file}: ${detail}`)
    this.name = 'TokenizerFileError'
  }
}

/** Reads and parses a JSON file; undefined when the file does not exist. */
export function readJsonFile(file: string): unknown {
  if (!existsSync(file)) return undefined
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new TokenizerFileError(file, `cannot be read (${messageOf(err)})`)
  }
  try {
    return JSON.parse(text) as unknown
  } catch (err) {
    throw new TokenizerFileError(file, `is not valid JSON (${messageOf(err)})`)
  }
}

/** A special token as tokenizer_config.json writes it: a string or an AddedToken object. */
export type TokenSpec = string | { content: string } | null

/** The fields of tokenizer_config.json that the engine reads; the rest passes through. */
export interface TokenizerConfig {
  bos_token?: TokenSpec
  eos_token?: TokenSpec
  additional_special_tokens?: TokenSpec[]
  chat_template?: string | { name: string; template: string }[]
  [key: string]: unknown
}

export const TOKENIZER_FILE = 'tokenizer.json'
export const TOKENIZER_CONFIG_FILE = 'tokenizer_config.json'
export const GENERATION_CONFIG_FILE = 'generation_config.json'
export const CHAT_TEMPLATE_FILE = 'chat_template.jinja'

/** tokenizer_config.json of a model folder, or undefined when it has none. */
export function readTokenizerConfig(dir: string): TokenizerConfig | undefined {
  const file = join(dir, TOKENIZER_CONFIG_FILE)
  const json = readJsonFile(file)
  if (json === undefined) return undefined
  if (!isObject(json)) throw new TokenizerFileError(file, 'must hold a JSON object')
  return json as TokenizerConfig
}

/** The text of a special token, whichever way the config wrote it. */
export function tokenContent(spec: unknown): string | undefined {
  if (typeof spec === 'string') return spec
  if (isObject(spec) && typeof spec.content === 'string') return spec.content
  return undefined
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
