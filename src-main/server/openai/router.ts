/**
 * The OpenAI-compatible routes under /v1, over the backend's LocalApiService
 * (services/local-api.ts): model list, chat completions and completions,
 * plain or streamed. Each request runs its own generation through the
 * engine's queue; a client that goes away cancels it.
 */
import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { GenerationDone } from '../../api/contract'
import { ApiError } from '../../api/errors'
import { QueueClosedError, QueueFullError } from '../../services/generation-queue'
import { isPromptRefusal, type ApiModel, type LocalApiService } from '../../services/local-api'
import { readJsonBody } from './body'
import { badRequest, modelNotFound, OpenAiError, sendError } from './errors'
import { checkApiGate, corsHeaders, preflight, type ApiGateConfig } from './gate'
import { ChatCompletionRequest, CompletionRequest, maxTokensOf, messagesOf, parseBody, promptOf, samplingOf, stopsOf } from './requests'
import { SseWriter } from './sse'
import { StopHoldback } from './stop-holdback'

export const apiPathPrefix = '/v1'

/** The LocalApiService methods the routes use. */
export type OpenAiBackend = Pick<LocalApiService, 'models' | 'find' | 'start'>

export interface OpenAiRouterOptions {
  api: OpenAiBackend
  gate: ApiGateConfig
  log: (line: string) => void
}

const owner = 'sorted-studio'
/** Chat: as many new tokens as the context leaves, capped like the rest of the app. */
const chatDefaultMaxTokens = 8192
/** Completions: OpenAI's default. */
const completionDefaultMaxTokens = 16

function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string>): void {
  res.writeHead(status, { ...headers, 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' })
  res.end(JSON.stringify(value))
}

function modelObject(model: ApiModel) {
  return {
    id: model.id,
    object: 'model',
    created: model.created,
    owned_by: owner,
    sorted: {
      library_id: model.libraryId,
      source: model.source,
      layers: model.numLayers,
      exit: model.budget.kind === 'exit' ? model.budget.exit : model.budget.kind === 'full' ? model.numLayers : null,
      mode: model.budget.kind === 'mode' ? model.budget.mode : null,
    },
  }
}

/** OpenAI's finish reasons: an end-of-sequence token or a stop string is `stop`, the token limit `length`. */
function finishReason(done: GenerationDone): 'stop' | 'length' {
  return done.finishReason === 'length' ? 'length' : 'stop'
}

function usageOf(done: GenerationDone) {
  return { prompt_tokens: done.promptTokens, completion_tokens: done.tokens.length, total_tokens: done.promptTokens + done.tokens.length }
}

/** A failed generation as an OpenAI error: a prompt too long for the context is the client's (400), anything else the server's. */
function generationError(done: GenerationDone, param: string): OpenAiError {
  const message = done.error ?? 'The generation failed.'
  if (isPromptRefusal(message)) return badRequest(message, param, 'context_length_exceeded')
  return new OpenAiError(500, message, 'server_error', null, 'generation_failed')
}

/** What starting a generation may throw, as an OpenAI error. */
function startError(error: unknown): OpenAiError {
  if (error instanceof QueueFullError) return new OpenAiError(429, error.message, 'rate_limit_error', null, 'rate_limit_exceeded', error.retryAfterSeconds)
  if (error instanceof QueueClosedError) return new OpenAiError(503, error.message, 'server_error', null, 'shutting_down', 5)
  if (error instanceof ApiError && error.code === 'invalid_params') {
    const path = error.issues?.[0]?.path
    return badRequest(error.message, path === 'messages' || path === 'prompt' ? path : null, 'invalid_value')
  }
  if (error instanceof OpenAiError) return error
  return new OpenAiError(500, error instanceof Error ? error.message : String(error), 'server_error')
}

interface Kind {
  /** chat.completion or text_completion. */
  chat: boolean
  id: string
  created: number
  model: string
}

/** The choice of one chunk or response, for either endpoint. */
function choice(kind: Kind, text: string | undefined, finish: 'stop' | 'length' | null, opts: { role?: boolean; final?: boolean } = {}) {
  if (kind.chat) {
    const delta: Record<string, string> = {}
    if (opts.role) delta.role = 'assistant'
    if (text !== undefined) delta.content = text
    return { index: 0, delta, logprobs: null, finish_reason: finish }
  }
  return { index: 0, text: text ?? '', logprobs: null, finish_reason: finish }
}

export function createOpenAiRouter(options: OpenAiRouterOptions): (req: IncomingMessage, res: ServerResponse, pathname: string) => void {
  const { api, gate, log } = options

  const generate = async (req: IncomingMessage, res: ServerResponse, chat: boolean, cors: Record<string, string>) => {
    const body = await readJsonBody(req)
    const request = chat ? parseBody(ChatCompletionRequest, body) : parseBody(CompletionRequest, body)
    const model = api.find(request.model)
    if (!model) throw modelNotFound(request.model)
    const kind: Kind = { chat, id: `${chat ? 'chatcmpl' : 'cmpl'}-${randomUUID()}`, created: Math.floor(Date.now() / 1000), model: model.id }
    const object = chat ? 'chat.completion' : 'text_completion'
    const chunkObject = chat ? 'chat.completion.chunk' : 'text_completion'
    const stream = request.stream === true
    const includeUsage = stream && request.stream_options?.include_usage === true
    const stops = stopsOf(request)
    const holdback = new StopHoldback(stops)
    const sse = new SseWriter(res, cors)
    let pendingExits: number[] = []
    let answered = false

    const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) => ({
      id: kind.id,
      object: chunkObject,
      created: kind.created,
      model: kind.model,
      system_fingerprint: null,
      choices,
      ...(includeUsage ? { usage: null } : {}),
      ...extra,
    })
    let rolled = false
    const sendText = (text: string) => {
      if (!rolled && chat) {
        rolled = true
        sse.send(chunk([choice(kind, '', null, { role: true })]))
      }
      if (text === '' && pendingExits.length === 0) return
      sse.send(chunk([choice(kind, text, null)], { sorted: { exits: pendingExits } }))
      pendingExits = []
    }

    const finished = new Promise<void>((resolve, reject) => {
      const input = chat ? { messages: messagesOf(request as ChatCompletionRequest) } : { prompt: promptOf(request as CompletionRequest) }
      let handle: { cancel(): void }
      try {
        handle = api.start(
          {
            model,
            input,
            maxNewTokens: maxTokensOf(request, chat ? chatDefaultMaxTokens : completionDefaultMaxTokens),
            sampling: samplingOf(request),
            stopStrings: stops,
          },
          {
            token: (token) => {
              if (!stream) return
              pendingExits.push(token.exit)
              const text = holdback.push(token.text)
              if (text !== '') sendText(text)
            },
            done: (done) => {
              answered = true
              resolve()
              if (res.destroyed || res.writableEnded) return
              if (done.finishReason === 'error' && (!stream || !rolled)) {
                sendError(res, generationError(done, chat ? 'messages' : 'prompt'), cors)
                return
              }
              const sorted = { exit: model.budget.kind === 'exit' ? model.budget.exit : model.numLayers, exits: done.exits, tokens_per_second: done.decodeTokensPerSecond, prefill_ms: done.prefillMs }
              if (!stream) {
                const message = chat
                  ? { index: 0, message: { role: 'assistant', content: done.text, refusal: null }, logprobs: null, finish_reason: finishReason(done) }
                  : { index: 0, text: done.text, logprobs: null, finish_reason: finishReason(done) }
                sendJson(res, 200, { id: kind.id, object, created: kind.created, model: kind.model, system_fingerprint: null, choices: [message], usage: usageOf(done), sorted }, cors)
                return
              }
              if (done.finishReason === 'error') {
                // Headers are gone: OpenAI's streams report a late failure as an error event.
                sse.send(generationError(done, chat ? 'messages' : 'prompt').body())
                sse.done()
                return
              }
              const rest = holdback.finish(done.text)
              if (rest !== '' || !rolled) sendText(rest)
              sse.send(chunk([choice(kind, chat ? undefined : '', finishReason(done))], { sorted: { exits: pendingExits, tokens_per_second: done.decodeTokensPerSecond, prefill_ms: done.prefillMs } }))
              pendingExits = []
              if (includeUsage) sse.send({ ...chunk([]), usage: usageOf(done) })
              sse.done()
            },
          },
        )
      } catch (error) {
        answered = true
        reject(startError(error))
        return
      }
      // The client went away (closed the stream, timed out): stop its generation, waiting or running.
      const left = () => {
        if (!answered) handle.cancel()
      }
      res.once('close', left)
      if (res.destroyed || req.socket.destroyed) left()
    })
    await finished
  }

  const route = async (req: IncomingMessage, res: ServerResponse, pathname: string) => {
    if (req.method === 'OPTIONS') {
      const answer = preflight(req.headers, gate)
      res.writeHead(answer.status, { ...answer.headers, 'Content-Length': '0' })
      res.end()
      return
    }
    checkApiGate(req.headers, gate)
    const cors = corsHeaders(req.headers, gate)
    try {
      const method = req.method ?? 'GET'
      const expect = (allowed: string) => {
        if (method !== allowed) throw new OpenAiError(405, `${pathname} takes ${allowed} requests.`, 'invalid_request_error', null, 'method_not_allowed')
      }
      if (pathname === '/v1/models') {
        expect('GET')
        return sendJson(res, 200, { object: 'list', data: api.models().map(modelObject) }, cors)
      }
      if (pathname.startsWith('/v1/models/')) {
        expect('GET')
        let id: string
        try {
          id = decodeURIComponent(pathname.slice('/v1/models/'.length))
        } catch {
          throw modelNotFound(pathname.slice('/v1/models/'.length))
        }
        const model = api.find(id)
        if (!model) throw modelNotFound(id)
        return sendJson(res, 200, modelObject(model), cors)
      }
      if (pathname === '/v1/chat/completions' || pathname === '/v1/completions') {
        expect('POST')
        return await generate(req, res, pathname === '/v1/chat/completions', cors)
      }
      throw new OpenAiError(404, `There is no ${pathname} here: this server offers /v1/models, /v1/chat/completions and /v1/completions.`, 'invalid_request_error', null, 'unknown_url')
    } catch (error) {
      throw Object.assign(error instanceof Error ? error : new Error(String(error)), { cors })
    }
  }

  return (req, res, pathname) => {
    route(req, res, pathname).catch((raw: unknown) => {
      const cors = (raw as { cors?: Record<string, string> }).cors ?? {}
      const error = raw instanceof OpenAiError ? raw : startError(raw)
      if (error.status >= 500 && !(raw instanceof OpenAiError)) log(`Sorted Studio API: ${req.method} ${pathname} failed: ${error.message}`)
      // A body still arriving (a 413 cut short) cannot be drained: answer, then close.
      if (!req.complete) res.setHeader('Connection', 'close')
      sendError(res, error, cors)
    })
  }
}
