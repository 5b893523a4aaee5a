import { describe, expect, it } from 'vitest'
import type { Settings } from '../../../src-main/api/contract'
import { ClientError } from '../../../src-renderer/src/api/client'
import { useSettingsStore } from '../../../src-renderer/src/stores/settings'
import { deferred, FakeClient, piniaWith } from './fake-client'

const stored: Settings = { executionProvider: 'cpu', theme: 'dark' }

function storeWith(client: FakeClient) {
  piniaWith(client)
  return useSettingsStore()
}

describe('settings store', () => {
  it('loads the settings the backend stores', async () => {
    const store = storeWith(new FakeClient().handle('settings.get', () => stored))
    await store.load()
    expect(store.settings).toEqual(stored)
  })

  it('reports a failed load instead of showing settings', async () => {
    const client = new FakeClient().handle('settings.get', () => {
      throw new ClientError({ code: 'internal', message: 'settings.get failed: disk full' })
    })
    const store = storeWith(client)
    await store.load()
    expect(store.settings).toBeNull()
    expect(store.loadError).toBe('settings.get failed: disk full')
  })

  it('shows the value the server returned after an update, not the one requested', async () => {
    // The server may normalise a change; the form must show what was stored.
    const client = new FakeClient().handle('settings.update', () => ({ executionProvider: 'cpu', theme: 'light' }))
    const store = storeWith(client)
    expect(await store.update({ theme: 'dark' })).toBe(true)
    expect(store.settings).toEqual({ executionProvider: 'cpu', theme: 'light' })
    expect(client.calls).toEqual([{ method: 'settings.update', params: { theme: 'dark' } }])
  })

  it('says "Saving…" while an update is in flight and "Saved" once it lands', async () => {
    const reply = deferred<Settings>()
    const store = storeWith(new FakeClient().handle('settings.update', () => reply.promise))
    const saving = store.update({ theme: 'dark' })
    expect(store.statusText).toBe('Saving…')
    expect(store.settings).toBeNull()
    reply.resolve(stored)
    await saving
    expect(store.statusText).toBe('Saved')
  })

  it('keeps saying "Saving…" until every pending update has landed', async () => {
    const first = deferred<Settings>()
    const second = deferred<Settings>()
    const replies = [first, second]
    const store = storeWith(new FakeClient().handle('settings.update', () => replies.shift()!.promise))
    const one = store.update({ theme: 'dark' })
    const two = store.update({ executionProvider: 'cpu' })
    first.resolve({ executionProvider: 'auto', theme: 'dark' })
    await one
    expect(store.statusText).toBe('Saving…')
    second.resolve(stored)
    await two
    expect(store.statusText).toBe('Saved')
  })

  it('names the rejected field when an update fails, and keeps the stored value', async () => {
    const client = new FakeClient()
      .handle('settings.get', () => stored)
      .handle('settings.update', () => {
        throw new ClientError({
          code: 'invalid_params',
          message: 'Invalid parameters for settings.update',
          issues: [{ path: 'theme', message: 'Invalid option: expected one of "system"|"light"|"dark"' }],
        })
      })
    const store = storeWith(client)
    await store.load()
    expect(await store.update({ theme: 'dark' })).toBe(false)
    expect(store.save.kind).toBe('error')
    expect(store.statusText).toContain('theme: Invalid option')
    expect(store.settings).toEqual(stored)
  })

  it('takes a settings.changed event from another window as the new value', () => {
    const client = new FakeClient()
    const store = storeWith(client)
    client.emit('settings.changed', { executionProvider: 'dml', theme: 'light' })
    expect(store.settings).toEqual({ executionProvider: 'dml', theme: 'light' })
  })
})
