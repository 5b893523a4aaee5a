/**
 * Errors in OpenAI's shape, so every client library raises its usual error
 * types: `{"error": {"message", "type", "param", "code"}}` with the matching
 * HTTP status (400 bad field, 401 key, 403 origin, 404 model, 413 body,
 * 429/503 busy with Retry-After, 500 engine failure).
 */
import type { ServerResponse } from 'node:http'

export interface OpenAiErrorBody {
  message: string
  type: string
  param: string | null
  code: string | null
}

export class OpenAiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    /** Seconds, for 429 and 503. */
    readonly retryAfter?: number,
  ) {
    super(message)
    this.name = 'OpenAiError'
  }

  body(): { error: OpenAiErrorBody } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } }
  }
}

export const badRequest = (message: string, param: string | null = null, code: string | null = null) =>
  new OpenAiError(400, message, 'invalid_request_error', param, code)

export const modelNotFound = (model: string) =>
  new OpenAiError(404, `The model "${model}" does not exist. GET /v1/models lists the ids this server offers (NAME, NAME@EXIT).`, 'invalid_request_error', 'model', 'model_not_found')

/** Writes the error as the whole response; one already under way is cut off instead. */
export function sendError(res: ServerResponse, error: OpenAiError, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  const body = JSON.stringify(error.body())
  res.writeHead(error.status, {
    ...headers,
    'Content-Type': 'application/json; charset=utf-8',
    'Cache-Control': 'no-store',
    ...(error.retryAfter !== undefined ? { 'Retry-After': String(error.retryAfter) } : {}),
  })
  res.end(body)
}
