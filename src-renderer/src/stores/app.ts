/** What the backend says about itself: version, transport, data folder, execution providers. */
import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { AppInfo } from '../../../src-main/api/contract'
import { errorMessage } from '../api/error-message'
import { useApi } from '../api/use-api'

export const useAppStore = defineStore('app', () => {
  const api = useApi()
  const info = ref<AppInfo | null>(null)
  const error = ref<string | null>(null)

  async function load(): Promise<void> {
    try {
      info.value = await api.call('app.info', {})
      error.value = null
    } catch (caught) {
      error.value = errorMessage(caught)
    }
  }

  return { info, error, load }
})
