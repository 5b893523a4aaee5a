/**
 * The user's settings as the backend last reported them. Nothing here is
 * optimistic: `settings` changes only when the server answers or announces a
 * change, so what the form shows after a save is what was actually stored.
 */
import { defineStore } from 'pinia'
import { computed, onScopeDispose, ref } from 'vue'
import type { Settings, SettingsPatch } from '../../../src-main/api/contract'
import { errorMessage } from '../api/error-message'
import { useApi } from '../api/use-api'
import { attempt } from './attempt'

export type SaveState = { kind: 'idle' } | { kind: 'saving' } | { kind: 'saved' } | { kind: 'error'; message: string }

export const useSettingsStore = defineStore('settings', () => {
  const api = useApi()
  const settings = ref<Settings | null>(null)
  const loadError = ref<string | null>(null)
  const save = ref<SaveState>({ kind: 'idle' })
  let inFlight = 0

  // Another window (or tab) changed a setting: the event carries the whole value.
  onScopeDispose(api.on('settings.changed', (next) => (settings.value = next)))

  async function load(): Promise<void> {
    await attempt(loadError, async () => (settings.value = await api.call('settings.get', {})))
  }

  /** Saves a change; resolves to whether the backend accepted it. */
  async function update(patch: SettingsPatch): Promise<boolean> {
    inFlight++
    save.value = { kind: 'saving' }
    try {
      settings.value = await api.call('settings.update', patch)
      // "Saved" only once every pending change has landed, and never over the
      // error of an earlier change that did not.
      if (inFlight === 1 && save.value.kind === 'saving') save.value = { kind: 'saved' }
      return true
    } catch (error) {
      save.value = { kind: 'error', message: `Could not save: ${errorMessage(error)}` }
      return false
    } finally {
      inFlight--
    }
  }

  const statusText = computed(() => {
    switch (save.value.kind) {
      case 'idle':
        return ''
      case 'saving':
        return 'Saving…'
      case 'saved':
        return 'Saved'
      case 'error':
        return save.value.message
    }
  })

  return { settings, loadError, save, statusText, load, update }
})
