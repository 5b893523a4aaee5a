import { describe, expect, it } from 'vitest'
import { checkApiRequest, checkSite, newToken, tokenProtocolPrefix } from '../../../src-main/server/security'

const port = 43123
const token = 'abc_DEF-123'
const own = { host: `127.0.0.1:${port}` }
const bearer = { ...own, authorization: `Bearer ${token}` }

describe('browser-mode site gate (every request)', () => {
  it('accepts our own host, with no Origin or our own under either loopback name', () => {
    expect(checkSite(own, port)).toEqual({ ok: true })
    expect(checkSite({ ...own, origin: `http://127.0.0.1:${port}` }, port)).toEqual({ ok: true })
    expect(checkSite({ host: `localhost:${port}`, origin: `http://localhost:${port}` }, port)).toEqual({ ok: true })
  })

  it('answers 403 to a foreign Host (DNS rebinding)', () => {
    expect(checkSite({ host: `evil.example:${port}` }, port)).toMatchObject({ ok: false, status: 403 })
    expect(checkSite({ host: `127.0.0.1:${port + 1}` }, port)).toMatchObject({ status: 403 })
    expect(checkSite({}, port)).toMatchObject({ status: 403 })
  })

  it('answers 403 to a foreign or unreadable Origin (cross-site requests)', () => {
    for (const origin of ['http://evil.example', `https://127.0.0.1:${port}`, `http://127.0.0.1:${port + 1}`, 'null', '%ZZ', 'http://[']) {
      expect(checkSite({ ...own, origin }, port)).toMatchObject({ ok: false, status: 403 })
    }
  })
})

describe('browser-mode API gate', () => {
  it('accepts the token as a bearer header or as a WebSocket subprotocol', () => {
    expect(checkApiRequest(bearer, port, token)).toEqual({ ok: true })
    expect(checkApiRequest({ ...own, 'sec-websocket-protocol': `sorted.v1, ${tokenProtocolPrefix}${token}` }, port, token)).toEqual({ ok: true })
  })

  it('answers 401 without the token, with a wrong one, or with it in a cookie or the query', () => {
    expect(checkApiRequest(own, port, token)).toMatchObject({ ok: false, status: 401 })
    expect(checkApiRequest({ ...own, authorization: 'Bearer abc_DEF-124' }, port, token)).toMatchObject({ status: 401 })
    expect(checkApiRequest({ ...own, 'sec-websocket-protocol': `${tokenProtocolPrefix}abc_DEF-12` }, port, token)).toMatchObject({ status: 401 })
    expect(checkApiRequest({ ...own, cookie: `sorted_token_${port}=${token}` }, port, token)).toMatchObject({ status: 401 })
    expect(checkApiRequest({ ...own, cookie: `sorted_token_${port}=%ZZ` }, port, token)).toMatchObject({ status: 401 })
  })

  it('checks Host and Origin before the token (403 even with it)', () => {
    expect(checkApiRequest({ ...bearer, host: `evil.example:${port}` }, port, token)).toMatchObject({ status: 403 })
    expect(checkApiRequest({ ...bearer, origin: 'https://evil.example' }, port, token)).toMatchObject({ status: 403 })
  })

  it('makes URL-safe tokens that differ per launch', () => {
    const a = newToken()
    const b = newToken()
    expect(a).toMatch(/^[A-Za-z0-9_-]{40,}$/)
    expect(a).not.toBe(b)
  })
})
