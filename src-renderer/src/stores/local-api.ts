/**
 * Settings → "Local API server": the OpenAI-compatible API's switch, port and
 * key as the backend reports them (never optimistic), and the actions that
 * change them. Failures land in `error` (stores/attempt.ts).
 */
import { defineStore } from 'pinia'
import { onScopeDispose, ref } from 'vue'
import type { LocalApiChange, LocalApiState } from '../../../src-main/api/contract'
import { useApi } from '../api/use-api'
import { attempt } from './attempt'

export const useLocalApiStore = defineStore('localApi', () => {
  const api = useApi()
  const state = ref<LocalApiState | null>(null)
  const error = ref<string | null>(null)
  const busy = ref(false)

  // Changed from another window, or the server came back at start.
  onScopeDispose(api.on('localApi.changed', (next) => (state.value = next)))

  async function load(): Promise<void> {
    await attempt(error, async () => (state.value = await api.call('localApi.get', {})))
  }

  async function run(action: () => Promise<LocalApiState>): Promise<boolean> {
    busy.value = true
    try {
      return await attempt(error, async () => (state.value = await action()))
    } finally {
      busy.value = false
    }
  }

  /** Turns the server on or off, or moves it; resolves to whether the backend took the change. */
  function configure(change: LocalApiChange): Promise<boolean> {
    return run(() => api.call('localApi.configure', change))
  }

  /** A new key: clients holding the old one are refused from now on. */
  function regenerateKey(): Promise<boolean> {
    return run(() => api.call('localApi.regenerateKey', {}))
  }

  return { state, error, busy, load, configure, regenerateKey }
})
