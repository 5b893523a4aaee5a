/**
 * What the backend says about itself (version, transport, data folder,
 * execution providers), and the desktop app's file dialogs.
 */
import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { AppInfo, GraphCacheUsage } from '../../../src-main/api/contract'
import { useApi } from '../api/use-api'
import { attempt } from './attempt'

export const useAppStore = defineStore('app', () => {
  const api = useApi()
  const info = ref<AppInfo | null>(null)
  const error = ref<string | null>(null)
  /** Why the last file dialog failed to open. */
  const dialogError = ref<string | null>(null)
  /** The desktop app (Electron IPC) has native file dialogs; browser mode types paths or uploads. */
  const desktop = api.transport === 'electron'

  async function load(): Promise<void> {
    await attempt(error, async () => (info.value = await api.call('app.info', {})))
  }

  /** The compiled-graph cache's size, and what the last clearing could not remove. */
  const graphCache = ref<GraphCacheUsage | null>(null)
  const graphCacheKept = ref(0)
  const graphCacheError = ref<string | null>(null)

  async function loadGraphCache(): Promise<void> {
    await attempt(graphCacheError, async () => (graphCache.value = await api.call('app.graphCache', {})))
  }

  async function clearGraphCache(): Promise<void> {
    await attempt(graphCacheError, async () => {
      const cleared = await api.call('app.clearGraphCache', {})
      graphCache.value = cleared.usage
      graphCacheKept.value = cleared.kept
    })
  }

  /** A folder chosen in the system dialog; null when cancelled or failed (dialogError says why). */
  async function pickFolder(title: string): Promise<string | null> {
    let path: string | null = null
    await attempt(dialogError, async () => (path = (await api.call('app.pickFolder', { title })).path))
    return path
  }

  /** A file chosen in the system dialog; null when cancelled or failed (dialogError says why). */
  async function pickFile(title: string, extensions: string[]): Promise<string | null> {
    let path: string | null = null
    await attempt(dialogError, async () => (path = (await api.call('app.pickFile', { title, extensions })).path))
    return path
  }

  return { info, error, dialogError, desktop, load, pickFolder, pickFile, graphCache, graphCacheKept, graphCacheError, loadGraphCache, clearGraphCache }
})
