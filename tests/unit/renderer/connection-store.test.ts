import { describe, expect, it } from 'vitest'
import { useConnectionStore } from '../../../src-renderer/src/stores/connection'
import { FakeClient, piniaWith } from './fake-client'

function storeWith(client: FakeClient) {
  piniaWith(client)
  return useConnectionStore()
}

describe('connection store', () => {
  it('shows no banner while the first connection is being made', () => {
    const store = storeWith(new FakeClient())
    expect(store.state).toBe('connecting')
    expect(store.showBanner).toBe(false)
  })

  it('shows the banner once the socket closes, and through the retries that follow', () => {
    const client = new FakeClient()
    const store = storeWith(client)
    client.setConnection('open')
    client.setConnection('closed')
    expect(store.showBanner).toBe(true)
    client.setConnection('connecting')
    expect(store.showBanner).toBe(true)
  })

  it('hides the banner and counts a reconnect when the socket opens again', () => {
    const client = new FakeClient()
    const store = storeWith(client)
    client.setConnection('open')
    client.setConnection('closed')
    client.setConnection('open')
    expect(store.showBanner).toBe(false)
    expect(store.reconnects).toBe(1)
  })
})
