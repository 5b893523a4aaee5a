/**
 * The browser-mode socket's state. The banner waits for a real loss: the first
 * "connecting" after page load is not news to the user, and showing it would
 * flash a warning on every start.
 */
import { defineStore } from 'pinia'
import { computed, onScopeDispose, ref } from 'vue'
import type { ConnectionState } from '../api/client'
import { useApi } from '../api/use-api'

export const useConnectionStore = defineStore('connection', () => {
  const api = useApi()
  const state = ref<ConnectionState>('connecting')
  /** True from the first failed or dropped connection until the socket opens again. */
  const lost = ref(false)
  /** Counts reopenings after a loss, so data that may have changed meanwhile can be reloaded. */
  const reconnects = ref(0)

  onScopeDispose(
    api.onConnection((next) => {
      state.value = next
      if (next === 'closed') lost.value = true
      else if (next === 'open' && lost.value) {
        lost.value = false
        reconnects.value++
      }
    }),
  )

  const showBanner = computed(() => lost.value && state.value !== 'open')

  return { state, lost, reconnects, showBanner }
})
