/**
 * The browser-mode gate. Any page in the user's browser can send requests to
 * 127.0.0.1, so every request must prove it came from our own page:
 *  - Host must be our loopback address and port (a DNS-rebound name is not);
 *  - Origin, when the browser sends one, must be our own origin (a cross-site
 *    page's fetch or WebSocket is not);
 *  - the per-launch token must be present (query, cookie or bearer header),
 *    which no other site can learn.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'

export type GateResult = { ok: true; tokenFromQuery: boolean } | { ok: false; status: 401 | 403; reason: string }

/** 32 random bytes, base64url: letters, digits, `-` and `_` only. */
export function newToken(): string {
  return randomBytes(32).toString('base64url')
}

/** Cookie names are per port: cookies are shared by every port of a host. */
export function tokenCookieName(port: number): string {
  return `sorted_token_${port}`
}

function loopbackHosts(port: number): Set<string> {
  return new Set([`127.0.0.1:${port}`, `localhost:${port}`])
}

function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim())
  }
  return undefined
}

export function checkRequest(url: URL, headers: IncomingHttpHeaders, port: number, token: string): GateResult {
  const allowed = loopbackHosts(port)
  const host = headers.host?.toLowerCase()
  if (!host || !allowed.has(host)) return { ok: false, status: 403, reason: `Host "${host ?? ''}" is not this server` }
  const origin = headers.origin
  if (origin !== undefined) {
    let originHost: string | undefined
    try {
      const parsed = new URL(origin)
      if (parsed.protocol === 'http:') originHost = parsed.host.toLowerCase()
    } catch {
      originHost = undefined
    }
    if (!originHost || !allowed.has(originHost)) return { ok: false, status: 403, reason: `Origin "${origin}" is not this server` }
  }
  const fromQuery = url.searchParams.get('token')
  if (fromQuery !== null && sameToken(fromQuery, token)) return { ok: true, tokenFromQuery: true }
  const bearer = headers.authorization?.match(/^Bearer\s+(.+)$/i)?.[1]
  const fromCookie = cookieValue(headers.cookie, tokenCookieName(port))
  for (const candidate of [bearer, fromCookie]) {
    if (candidate !== undefined && sameToken(candidate, token)) return { ok: true, tokenFromQuery: false }
  }
  return { ok: false, status: 401, reason: 'Missing or wrong token' }
}
