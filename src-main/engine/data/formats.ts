/**
 * The record formats a dataset file may hold, one zod schema each, and what
 * a valid record becomes: an instruction/response pair, a conversation, or
 * token ids. Extra fields are allowed (datasets carry ids, sources,
 * categories) and ignored.
 */
import { z } from 'zod'
import type { ChatMessage } from '../tokenizer/chat-template'
import type { RecordLocation, RecordProblem } from './errors'

/** What each record is. */
export type RecordFormat = 'alpaca' | 'sharegpt' | 'messages' | 'tokenized'
/** How records are laid out in the file: one JSON array, or one JSON object per line. */
export type FileLayout = 'json' | 'jsonl'

export const RECORD_FORMATS: readonly RecordFormat[] = ['alpaca', 'sharegpt', 'messages', 'tokenized']

/** The name the dataset catalogue stores, e.g. `alpaca-json`, `sharegpt-jsonl`. */
export function formatName(format: RecordFormat, layout: FileLayout): string {
  return `${format}-${layout}`
}

/** Loss is not computed on labels equal to this (the Hugging Face / PyTorch convention). */
export const IGNORE_INDEX = -100

/** A valid record, whatever its format, with where it came from. */
export type DatasetRecord = InstructionRecord | ConversationRecord | TokenRecord

/** Alpaca: an instruction, an optional input giving context, and the response to learn. */
export interface InstructionRecord {
  kind: 'instruction'
  source: RecordLocation
  instruction: string
  input?: string
  output: string
}

/** ShareGPT or OpenAI messages: a conversation with at least one assistant turn. */
export interface ConversationRecord {
  kind: 'conversation'
  source: RecordLocation
  messages: ChatMessage[]
}

/** Pre-tokenized: ids and their labels, aligned (unshifted), IGNORE_INDEX where no loss is taken. */
export interface TokenRecord {
  kind: 'tokens'
  source: RecordLocation
  inputIds: number[]
  labels: number[]
}

// ---- Schemas -------------------------------------------------------------

const alpacaSchema = z.object({
  instruction: z.string(),
  // The Alpaca data writes "" for no input; some exports write null.
  input: z.string().nullish(),
  output: z.string(),
})

const shareGptSchema = z.object({
  conversations: z
    .array(z.object({ from: z.enum(['human', 'gpt', 'system']), value: z.string() }))
    .min(1, { abort: true })
    .refine((turns) => turns.some((t) => t.from === 'gpt'), 'has no "gpt" turn, so nothing to learn'),
})

const messagesSchema = z.object({
  messages: z
    .array(z.object({ role: z.enum(['system', 'user', 'assistant']), content: z.string() }))
    .min(1, { abort: true })
    .refine((messages) => messages.some((m) => m.role === 'assistant'), 'has no "assistant" message, so nothing to learn'),
})

/**
 * An id list checked element by element, reporting only the first bad
 * element: a 4,000-token record with a wrong vocabulary should make one
 * line of the report, not 4,000.
 */
function idList(what: 'input_ids' | 'labels', vocabSize: number | undefined) {
  return z
    .array(z.unknown())
    .min(1)
    .transform((ids, ctx) => {
      for (let k = 0; k < ids.length; k++) {
        const id = ids[k]
        const ignored = what === 'labels' && id === IGNORE_INDEX
        let problem: string | undefined
        if (typeof id !== 'number' || !Number.isInteger(id) || (id < 0 && !ignored)) {
          const expected = what === 'labels' ? `a token id or ${IGNORE_INDEX}` : 'a token id (a whole number ≥ 0)'
          problem = `expected ${expected}, got ${JSON.stringify(id) ?? typeName(id)}`
        } else if (vocabSize !== undefined && !ignored && id >= vocabSize) {
          problem = `id ${id} is outside the vocabulary (size ${vocabSize})`
        }
        if (problem !== undefined) {
          ctx.addIssue({ code: 'custom', path: [k], message: problem })
          return z.NEVER
        }
      }
      return ids as number[]
    })
}

function tokenizedSchema(vocabSize: number | undefined) {
  return z
    .object({ input_ids: idList('input_ids', vocabSize), labels: idList('labels', vocabSize).optional() })
    .refine((r) => r.labels === undefined || r.labels.length === r.input_ids.length, {
      path: ['labels'],
      error: (issue) => {
        const r = issue.input as { input_ids: unknown[]; labels: unknown[] }
        return `has ${r.labels.length} ${r.labels.length === 1 ? 'entry' : 'entries'} but input_ids has ${r.input_ids.length}; labels must be aligned with input_ids`
      },
    })
}

// ---- Validation ----------------------------------------------------------

export type RecordResult = { ok: true; record: DatasetRecord } | { ok: false; problems: RecordProblem[] }

/** Checks one parsed JSON value against a format's schema. */
export function validateRecord(
  value: unknown,
  format: RecordFormat,
  source: RecordLocation,
  options: { vocabSize?: number } = {},
): RecordResult {
  const fail = (issues: readonly z.core.$ZodIssue[]): RecordResult => ({
    ok: false,
    problems: issues.map((issue) => problemOf(issue, value, source)),
  })
  switch (format) {
    case 'alpaca': {
      const parsed = alpacaSchema.safeParse(value)
      if (!parsed.success) return fail(parsed.error.issues)
      const { instruction, input, output } = parsed.data
      const record: InstructionRecord = { kind: 'instruction', source, instruction, output }
      if (input !== undefined && input !== null && input !== '') record.input = input
      return { ok: true, record }
    }
    case 'sharegpt': {
      const parsed = shareGptSchema.safeParse(value)
      if (!parsed.success) return fail(parsed.error.issues)
      const roles = { human: 'user', gpt: 'assistant', system: 'system' } as const
      const messages = parsed.data.conversations.map((t) => ({ role: roles[t.from], content: t.value }))
      return { ok: true, record: { kind: 'conversation', source, messages } }
    }
    case 'messages': {
      const parsed = messagesSchema.safeParse(value)
      if (!parsed.success) return fail(parsed.error.issues)
      const messages = parsed.data.messages.map(({ role, content }) => ({ role, content }))
      return { ok: true, record: { kind: 'conversation', source, messages } }
    }
    case 'tokenized': {
      const parsed = tokenizedSchema(options.vocabSize).safeParse(value)
      if (!parsed.success) return fail(parsed.error.issues)
      const { input_ids: inputIds, labels } = parsed.data
      // Hugging Face's convention: no labels means every token is learned.
      return { ok: true, record: { kind: 'tokens', source, inputIds, labels: labels ?? [...inputIds] } }
    }
  }
}

/**
 * The format a record looks like, by the fields that name it; undefined
 * when it looks like none of them.
 */
export function detectRecordFormat(value: unknown): RecordFormat | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined
  if ('input_ids' in value) return 'tokenized'
  if ('conversations' in value) return 'sharegpt'
  if ('messages' in value) return 'messages'
  if ('instruction' in value || 'output' in value) return 'alpaca'
  return undefined
}

/** Our wording of a zod issue: the field as a path and what was found there. */
function problemOf(issue: z.core.$ZodIssue, record: unknown, source: RecordLocation): RecordProblem {
  const value = valueAt(record, issue.path)
  const field = issue.path.length === 0 ? undefined : fieldPath(issue.path)
  let message: string
  switch (issue.code) {
    case 'invalid_type':
      message =
        value === undefined
          ? 'missing'
          : issue.path.length === 0
            ? `expected a JSON object (a record), got ${typeName(value)}`
            : `expected ${withArticle(issue.expected)}, got ${typeName(value)}`
      break
    case 'invalid_value':
      message = `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, got ${JSON.stringify(value) ?? typeName(value)}`
      break
    case 'too_small':
      message = issue.origin === 'array' && Number(issue.minimum) === 1 ? 'must not be empty' : issue.message
      break
    default:
      message = issue.message
  }
  return field === undefined ? { ...source, message } : { ...source, field, message }
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let at = root
  for (const key of path) {
    if (typeof at !== 'object' || at === null) return undefined
    at = (at as Record<PropertyKey, unknown>)[key]
  }
  return at
}

/** ['conversations', 2, 'value'] → `conversations[2].value`. */
function fieldPath(path: readonly PropertyKey[]): string {
  return path.map((key, i) => (typeof key === 'number' ? `[${key}]` : i === 0 ? String(key) : `.${String(key)}`)).join('')
}

function typeName(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'array'
  return typeof value
}

function withArticle(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`
}
