/**
 * The browser-mode gate. Any page in the user's browser can send requests to
 * 127.0.0.1, so:
 *  - every request (page, assets, API) must name our loopback address and
 *    port in Host (a DNS-rebound name does not) and, when the browser sends
 *    an Origin, come from our own origin (a cross-site fetch or WebSocket
 *    does not);
 *  - the API also needs the per-launch token, which no other site can learn.
 *    It travels in an `Authorization: Bearer` header or, from a browser
 *    (which cannot set headers on a WebSocket), as a WebSocket subprotocol.
 *    Never in a cookie: browsers send cookies to every port of a host, so a
 *    cookie would hand the token to any other server on 127.0.0.1.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'

export type GateResult = { ok: true } | { ok: false; status: 401 | 403; reason: string }

/** The subprotocol that carries the token: `sorted.token.<token>`. The renderer's client uses the same prefix. */
export const tokenProtocolPrefix = 'sorted.token.'

/** 32 random bytes, base64url: letters, digits, `-` and `_` only (valid in a subprotocol name). */
export function newToken(): string {
  return randomBytes(32).toString('base64url')
}

function loopbackHosts(port: number): Set<string> {
  return new Set([`127.0.0.1:${port}`, `localhost:${port}`])
}

function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}

function originHost(origin: string): string | undefined {
  try {
    const parsed = new URL(origin)
    return parsed.protocol === 'http:' ? parsed.host.toLowerCase() : undefined
  } catch {
    return undefined
  }
}

/** Host and Origin: is this request addressed to us, from our own page or no page at all? */
export function checkSite(headers: IncomingHttpHeaders, port: number): GateResult {
  const allowed = loopbackHosts(port)
  const host = headers.host?.toLowerCase()
  if (!host || !allowed.has(host)) return { ok: false, status: 403, reason: `Host "${host ?? ''}" is not this server` }
  const origin = headers.origin
  if (origin !== undefined) {
    const from = originHost(origin)
    if (!from || !allowed.has(from)) return { ok: false, status: 403, reason: `Origin "${origin}" is not this server` }
  }
  return { ok: true }
}

/** The tokens a request presents: its bearer header and any `sorted.token.*` subprotocols it offers. */
function presentedTokens(headers: IncomingHttpHeaders): string[] {
  const tokens: string[] = []
  const bearer = headers.authorization?.match(/^Bearer\s+(\S+)\s*$/i)?.[1]
  if (bearer !== undefined) tokens.push(bearer)
  for (const offered of (headers['sec-websocket-protocol'] ?? '').split(',')) {
    const name = offered.trim()
    if (name.startsWith(tokenProtocolPrefix)) tokens.push(name.slice(tokenProtocolPrefix.length))
  }
  return tokens
}

/** The gate for the API: our site, and the token. */
export function checkApiRequest(headers: IncomingHttpHeaders, port: number, token: string): GateResult {
  const site = checkSite(headers, port)
  if (!site.ok) return site
  if (presentedTokens(headers).some((candidate) => sameToken(candidate, token))) return { ok: true }
  return { ok: false, status: 401, reason: 'Missing or wrong token' }
}
