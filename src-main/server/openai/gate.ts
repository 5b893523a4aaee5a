/**
 * The gate of the OpenAI-compatible API, separate from the app's own gate
 * (../security.ts: Host, Origin and the per-launch page token):
 *
 *  - a browser request whose Origin is not in the allowed list (default:
 *    none) is refused, 403, before anything else; CORS headers and preflight
 *    answers go to allowed origins only. Programs (curl, SDKs, editors) send
 *    no Origin.
 *  - on loopback, Host must name this server (127.0.0.1 or localhost with our
 *    port), so a DNS-rebound page cannot reach the API even without a key.
 *  - the API key, as `Authorization: Bearer KEY`, unless the server was
 *    started with --no-api-key, which is allowed on loopback only.
 */
import { timingSafeEqual } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import { OpenAiError } from './errors'

export interface ApiGateConfig {
  /** The key every request must present; undefined: no key (loopback only, checked at start). */
  key: string | undefined
  /** Origins (scheme://host[:port]) whose pages may call the API; others get 403. */
  allowedOrigins: readonly string[]
  /** Bound to loopback: Host must name this server. */
  loopback: boolean
  port: number
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}

/** An origin as browsers send it: scheme://host[:port], lower case, no path. */
export function normalizeOrigin(origin: string): string | undefined {
  try {
    const url = new URL(origin)
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined
    return url.origin.toLowerCase()
  } catch {
    return undefined
  }
}

/** The request's Origin when it is one of the allowed ones, for the CORS headers. */
export function allowedOrigin(headers: IncomingHttpHeaders, config: ApiGateConfig): string | undefined {
  const origin = headers.origin
  if (origin === undefined) return undefined
  const normalized = normalizeOrigin(origin)
  return normalized !== undefined && config.allowedOrigins.includes(normalized) ? origin : undefined
}

/** CORS headers for an allowed origin (none otherwise). */
export function corsHeaders(headers: IncomingHttpHeaders, config: ApiGateConfig): Record<string, string> {
  const origin = allowedOrigin(headers, config)
  return origin ? { 'Access-Control-Allow-Origin': origin, Vary: 'Origin' } : {}
}

/** Throws the OpenAI-shaped refusal, or returns when the request may proceed. */
export function checkApiGate(headers: IncomingHttpHeaders, config: ApiGateConfig): void {
  if (headers.origin !== undefined && allowedOrigin(headers, config) === undefined) {
    throw new OpenAiError(403, `Requests from the web page at ${headers.origin} are not allowed (start the server with --api-origin to allow an origin).`, 'invalid_request_error', null, 'origin_not_allowed')
  }
  if (config.loopback) {
    const host = headers.host?.toLowerCase()
    if (host !== `127.0.0.1:${config.port}` && host !== `localhost:${config.port}`) {
      throw new OpenAiError(403, `Host "${headers.host ?? ''}" is not this server.`, 'invalid_request_error', null, 'host_not_allowed')
    }
  }
  if (config.key === undefined) return
  const bearer = headers.authorization?.match(/^Bearer\s+(\S+)\s*$/i)?.[1]
  if (bearer === undefined) {
    throw new OpenAiError(401, 'An API key is required: send it as "Authorization: Bearer KEY" (Settings or the serve line shows it).', 'invalid_request_error', null, 'invalid_api_key')
  }
  if (!sameSecret(bearer, config.key)) throw new OpenAiError(401, 'Incorrect API key provided.', 'invalid_request_error', null, 'invalid_api_key')
}

/**
 * A CORS preflight (OPTIONS): answered for allowed origins only, naming the
 * methods and headers the API takes; returns the status and headers.
 */
export function preflight(headers: IncomingHttpHeaders, config: ApiGateConfig): { status: number; headers: Record<string, string> } {
  const origin = allowedOrigin(headers, config)
  if (!origin) return { status: 403, headers: {} }
  const requested = headers['access-control-request-headers']
  return {
    status: 204,
    headers: {
      'Access-Control-Allow-Origin': origin,
      'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
      'Access-Control-Allow-Headers': typeof requested === 'string' && /^[\w\s,-]*$/.test(requested) ? requested : 'authorization, content-type',
      'Access-Control-Max-Age': '600',
      Vary: 'Origin',
    },
  }
}
