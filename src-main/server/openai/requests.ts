/**
 * The request bodies of /v1/chat/completions and /v1/completions, checked
 * field by field so a refusal names the field (OpenAI's `param`). Fields this
 * server does not know are ignored, as OpenAI-compatible servers do; fields
 * it knows but cannot honour (n > 1, tools, logprobs, penalties) are refused
 * rather than silently dropped.
 */
import { z } from 'zod'
import type { ChatMessage, Sampling } from '../../api/contract'
import { badRequest, OpenAiError } from './errors'

const optional = <T extends z.ZodType>(schema: T) => schema.nullish()

const TextPart = z.object({ type: z.literal('text', { error: 'only text content parts are supported' }), text: z.string() })

const Message = z.object({
  role: z.enum(['system', 'developer', 'user', 'assistant'], { error: 'must be one of system, developer, user, assistant' }),
  content: z.union([z.string(), z.array(TextPart), z.null()], { error: 'must be a string or a list of text parts' }),
})

const unsupported = (what: string) => z.unknown().refine((v) => v === undefined || v === null || v === false || (Array.isArray(v) && v.length === 0), { error: `${what} is not supported by this server` }).optional()
const noPenalty = z.number().nullish().refine((v) => v === undefined || v === null || v === 0, { error: 'is not supported by this server; use repetition_penalty' })

const Common = {
  model: z.string({ error: 'is required: one of the ids GET /v1/models lists' }).min(1, { error: 'is required' }),
  max_tokens: optional(z.number().int().positive().max(8192)),
  max_completion_tokens: optional(z.number().int().positive().max(8192)),
  temperature: optional(z.number().min(0).max(2)),
  top_p: optional(z.number().min(0).max(1)),
  seed: optional(z.number().int()),
  stop: optional(z.union([z.string().min(1), z.array(z.string().min(1)).max(4)], { error: 'must be a non-empty string or a list of at most 4' })),
  n: optional(z.number().refine((n) => n === 1, { error: 'only n = 1 is supported' })),
  stream: optional(z.boolean()),
  stream_options: optional(z.object({ include_usage: optional(z.boolean()) })),
  logprobs: unsupported('logprobs'),
  presence_penalty: noPenalty,
  frequency_penalty: noPenalty,
  /** Extensions (llama.cpp, vLLM and LM Studio take the same names). */
  top_k: optional(z.number().int().positive()),
  repetition_penalty: optional(z.number().positive()),
}

export const ChatCompletionRequest = z.object({
  ...Common,
  messages: z.array(Message, { error: 'must be a list of messages' }).min(1, { error: 'must hold at least one message' }),
  tools: unsupported('tools'),
  functions: unsupported('functions'),
  top_logprobs: unsupported('top_logprobs'),
  response_format: optional(z.object({ type: z.literal('text', { error: 'only "text" is supported' }) })),
})
export type ChatCompletionRequest = z.infer<typeof ChatCompletionRequest>

export const CompletionRequest = z.object({
  ...Common,
  prompt: z.union([z.string(), z.array(z.string()).length(1)], { error: 'must be a string (or a list holding one string)' }),
  echo: unsupported('echo'),
  suffix: unsupported('suffix'),
  best_of: optional(z.number().refine((n) => n === 1, { error: 'only best_of = 1 is supported' })),
})
export type CompletionRequest = z.infer<typeof CompletionRequest>

/** `messages.0.content` → `messages[0].content`, as OpenAI names params. */
function paramName(path: readonly PropertyKey[]): string {
  return path.map((part, i) => (typeof part === 'number' ? `[${part}]` : `${i > 0 ? '.' : ''}${String(part)}`)).join('')
}

/** Parses a body or throws a 400 naming the first bad field. */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('The request body must be a JSON object.')
  const parsed = schema.safeParse(body)
  if (parsed.success) return parsed.data
  const issue = parsed.error.issues[0]!
  const param = paramName(issue.path)
  const message = issue.message.startsWith('Invalid input') && issue.code === 'invalid_type' ? `must be ${issue.expected}` : issue.message
  return fail(param, `${param || 'body'}: ${message}`)
}

function fail(param: string, message: string): never {
  throw badRequest(message, param || null, 'invalid_value')
}

export function messagesOf(request: ChatCompletionRequest): ChatMessage[] {
  return request.messages.map((m) => ({
    role: m.role === 'developer' ? 'system' : m.role,
    content: typeof m.content === 'string' ? m.content : (m.content ?? []).map((part) => part.text).join(''),
  }))
}

export function promptOf(request: CompletionRequest): string {
  return typeof request.prompt === 'string' ? request.prompt : request.prompt[0]!
}

/** OpenAI's default is 1 (and top_p 1); temperature 0 or top_p 0 decode greedily. */
export function samplingOf(request: ChatCompletionRequest | CompletionRequest): Sampling {
  const temperature = request.top_p === 0 ? 0 : (request.temperature ?? 1)
  return {
    temperature,
    ...(request.top_p !== undefined && request.top_p !== null && request.top_p > 0 && request.top_p < 1 ? { topP: request.top_p } : {}),
    ...(request.top_k !== undefined && request.top_k !== null ? { topK: request.top_k } : {}),
    ...(request.repetition_penalty !== undefined && request.repetition_penalty !== null ? { repetitionPenalty: request.repetition_penalty } : {}),
    ...(request.seed !== undefined && request.seed !== null ? { seed: request.seed } : {}),
  }
}

export function stopsOf(request: ChatCompletionRequest | CompletionRequest): string[] {
  if (request.stop === undefined || request.stop === null) return []
  return typeof request.stop === 'string' ? [request.stop] : request.stop
}

/**
 * New tokens asked for: max_completion_tokens, else max_tokens, else the
 * default (chat: as many as the context leaves, capped at 8192 like the rest
 * of the app; completions: 16, OpenAI's default).
 */
export function maxTokensOf(request: ChatCompletionRequest | CompletionRequest, fallback: number): number {
  return request.max_completion_tokens ?? request.max_tokens ?? fallback
}

export { OpenAiError }
