import { describe, expect, it } from 'vitest'
import { apiProtocol as serverApiProtocol } from '../../../src-main/server/socket'
import { tokenProtocolPrefix as serverTokenPrefix } from '../../../src-main/server/security'
import { apiProtocol, tokenProtocolPrefix } from '../../../src-renderer/src/api/client'
import { takePageToken, type TokenPage } from '../../../src-renderer/src/api/page-token'

/** A page at `address` (path, query and hash), with this tab's storage. */
function pageAt(address: string, storage = new Map<string, string>(), storageWorks = true) {
  const url = new URL(address, 'http://127.0.0.1:4000')
  const page = {
    location: { search: url.search, pathname: url.pathname, hash: url.hash },
    addressBar: `${url.pathname}${url.search}${url.hash}`,
    history: {
      state: { router: 'state' } as unknown,
      replaceState(data: unknown, _unused: string, next: string) {
        page.history.state = data
        page.addressBar = next
        const moved = new URL(next, 'http://127.0.0.1:4000')
        Object.assign(page.location, { search: moved.search, pathname: moved.pathname, hash: moved.hash })
      },
    },
    sessionStorage: {
      getItem(key: string) {
        if (!storageWorks) throw new Error('SecurityError')
        return storage.get(key) ?? null
      },
      setItem(key: string, value: string) {
        if (!storageWorks) throw new Error('SecurityError')
        storage.set(key, value)
      },
    },
  }
  return page satisfies TokenPage
}

describe('the page token (browser mode)', () => {
  it('takes the token from the address and leaves the rest of the address as it was', () => {
    const page = pageAt('/?token=abc_DEF-123#/settings')
    expect(takePageToken(page)).toBe('abc_DEF-123')
    expect(page.addressBar).toBe('/#/settings')
    expect(page.history.state).toEqual({ router: 'state' })
  })

  it('keeps other query parameters', () => {
    const page = pageAt('/?a=1&token=abc&b=2')
    expect(takePageToken(page)).toBe('abc')
    expect(page.addressBar).toBe('/?a=1&b=2')
  })

  it('still has the token after a reload of the stripped address, in the same tab', () => {
    const tab = new Map<string, string>()
    const first = pageAt('/?token=abc#/chat', tab)
    expect(takePageToken(first)).toBe('abc')
    const reloaded = pageAt(first.addressBar, tab)
    expect(takePageToken(reloaded)).toBe('abc')
    expect(reloaded.addressBar).toBe('/#/chat')
  })

  it('prefers a new token in the address to the one kept from an earlier launch', () => {
    const tab = new Map<string, string>()
    takePageToken(pageAt('/?token=old', tab))
    expect(takePageToken(pageAt('/?token=new', tab))).toBe('new')
    expect(takePageToken(pageAt('/', tab))).toBe('new')
  })

  it('has no token when neither the address nor the tab has one', () => {
    expect(takePageToken(pageAt('/#/settings'))).toBeUndefined()
  })

  it('drops a token that is not one (it could not be sent as a subprotocol) but still strips it', () => {
    const page = pageAt('/?token=a%20b%2Cc')
    expect(takePageToken(page)).toBeUndefined()
    expect(page.addressBar).toBe('/')
  })

  it('works for this page load when storage is switched off', () => {
    expect(takePageToken(pageAt('/?token=abc', new Map(), false))).toBe('abc')
  })

  it('names the same subprotocols as the server', () => {
    expect(apiProtocol).toBe(serverApiProtocol)
    expect(tokenProtocolPrefix).toBe(serverTokenPrefix)
  })
})
