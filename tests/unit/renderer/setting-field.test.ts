import { describe, expect, it } from 'vitest'
import type { Settings } from '../../../src-main/api/contract'
import { ClientError } from '../../../src-renderer/src/api/client'
import { useSettingField } from '../../../src-renderer/src/composables/use-setting-field'
import { useSettingsStore } from '../../../src-renderer/src/stores/settings'
import { deferred, FakeClient, piniaWith } from './fake-client'

const stored: Settings = { executionProvider: 'auto', theme: 'system' }

async function fieldWith(update: () => Promise<Settings>) {
  piniaWith(new FakeClient().handle('settings.get', () => stored).handle('settings.update', update))
  await useSettingsStore().load()
  return useSettingField('theme')
}

describe('a setting field', () => {
  it('shows the value just picked while its save is in flight', async () => {
    const reply = deferred<Settings>()
    const theme = await fieldWith(() => reply.promise)
    theme.value = 'dark'
    expect(theme.value).toBe('dark')
    expect(useSettingsStore().settings?.theme).toBe('system')
  })

  it('returns to the stored value when the save fails', async () => {
    const reply = deferred<Settings>()
    const theme = await fieldWith(() => reply.promise)
    theme.value = 'dark'
    reply.reject(new ClientError({ code: 'internal', message: 'settings.update failed: disk full' }))
    await expect.poll(() => theme.value).toBe('system')
  })
})
