import { describe, expect, it } from 'vitest'
import { checkRequest, newToken, tokenCookieName } from '../../../src-main/server/security'

const port = 43123
const token = 'abc_DEF-123'
const own = { host: `127.0.0.1:${port}` }
const url = (query = '') => new URL(`http://127.0.0.1:${port}/${query}`)

describe('browser-mode request gate', () => {
  it('accepts our own host with the token in the query', () => {
    expect(checkRequest(url(`?token=${token}`), own, port, token)).toEqual({ ok: true, tokenFromQuery: true })
  })

  it('accepts the token from the per-port cookie and from a bearer header', () => {
    expect(checkRequest(url(), { ...own, cookie: `x=1; ${tokenCookieName(port)}=${token}` }, port, token).ok).toBe(true)
    expect(checkRequest(url(), { ...own, authorization: `Bearer ${token}` }, port, token).ok).toBe(true)
  })

  it('answers 401 without a token or with a wrong one', () => {
    expect(checkRequest(url(), own, port, token)).toMatchObject({ ok: false, status: 401 })
    expect(checkRequest(url('?token=abc_DEF-124'), own, port, token)).toMatchObject({ ok: false, status: 401 })
    // Another instance's cookie (another port) does not open this one.
    expect(checkRequest(url(), { ...own, cookie: `${tokenCookieName(port + 1)}=${token}` }, port, token)).toMatchObject({ status: 401 })
  })

  it('answers 403 to a foreign Host even with the token (DNS rebinding)', () => {
    const result = checkRequest(url(`?token=${token}`), { host: `evil.example:${port}` }, port, token)
    expect(result).toMatchObject({ ok: false, status: 403 })
    expect(checkRequest(url(`?token=${token}`), { host: `127.0.0.1:${port + 1}` }, port, token)).toMatchObject({ status: 403 })
    expect(checkRequest(url(`?token=${token}`), {}, port, token)).toMatchObject({ status: 403 })
  })

  it('answers 403 to a foreign Origin even with the token (cross-site requests)', () => {
    for (const origin of ['http://evil.example', `https://127.0.0.1:${port}`, `http://127.0.0.1:${port + 1}`, 'null']) {
      expect(checkRequest(url(`?token=${token}`), { ...own, origin }, port, token)).toMatchObject({ ok: false, status: 403 })
    }
  })

  it('accepts our own origin under either loopback name', () => {
    expect(checkRequest(url(`?token=${token}`), { ...own, origin: `http://127.0.0.1:${port}` }, port, token).ok).toBe(true)
    expect(checkRequest(url(`?token=${token}`), { host: `localhost:${port}`, origin: `http://localhost:${port}` }, port, token).ok).toBe(true)
  })

  it('makes URL-safe tokens that differ per launch', () => {
    const a = newToken()
    const b = newToken()
    expect(a).toMatch(/^[A-Za-z0-9_-]{40,}$/)
    expect(a).not.toBe(b)
  })
})
