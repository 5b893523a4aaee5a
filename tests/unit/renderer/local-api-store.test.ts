import { describe, expect, it } from 'vitest'
import type { LocalApiState } from '../../../src-main/api/contract'
import { ClientError } from '../../../src-renderer/src/api/client'
import { useLocalApiStore } from '../../../src-renderer/src/stores/local-api'
import { FakeClient, piniaWith } from './fake-client'

const off: LocalApiState = { enabled: false, port: 41234, state: 'off', key: 'sk-sorted-one', fixed: false }
const on: LocalApiState = { ...off, enabled: true, state: 'on', url: 'http://127.0.0.1:41234/v1' }

function storeWith(client: FakeClient) {
  piniaWith(client)
  return useLocalApiStore()
}

describe('local API store', () => {
  it('shows what the backend reports after a change, and follows changes from other windows', async () => {
    const client = new FakeClient().handle('localApi.get', () => off).handle('localApi.configure', () => on)
    const store = storeWith(client)
    await store.load()
    expect(store.state).toEqual(off)
    expect(await store.configure({ enabled: true })).toBe(true)
    expect(store.state).toEqual(on)
    expect(client.calls.at(-1)).toEqual({ method: 'localApi.configure', params: { enabled: true } })
    client.emit('localApi.changed', { ...on, key: 'sk-sorted-two' })
    expect(store.state?.key).toBe('sk-sorted-two')
  })

  it('keeps the stored state and shows why when a change is refused', async () => {
    const client = new FakeClient()
      .handle('localApi.get', () => off)
      .handle('localApi.regenerateKey', () => {
        throw new ClientError({ code: 'conflict', message: 'The local API was set on the command line.' })
      })
    const store = storeWith(client)
    await store.load()
    expect(await store.regenerateKey()).toBe(false)
    expect(store.state).toEqual(off)
    expect(store.error).toBe('The local API was set on the command line.')
    expect(store.busy).toBe(false)
  })
})
