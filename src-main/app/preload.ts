/**
 * The only bridge between the sandboxed renderer and the main process:
 * `window.sorted.invoke(method, params)`, `window.sorted.onEvent(listener)` and
 * `window.sorted.pickPath(options)` (the open dialog). It exposes no Node or
 * Electron object, only these functions.
 */
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron'
import type { SortedBridge } from '../api/bridge'
import { ipcChannel } from '../api/channels'
import type { IpcResult } from '../api/protocol'

const bridge: SortedBridge = {
  invoke: (method, params) => ipcRenderer.invoke(ipcChannel.request(String(method)), params) as Promise<IpcResult>,
  onEvent(listener) {
    const forward = (_event: IpcRendererEvent, name: string, payload: unknown) => listener(name, payload)
    ipcRenderer.on(ipcChannel.events, forward)
    return () => ipcRenderer.removeListener(ipcChannel.events, forward)
  },
  pickPath: (options) => ipcRenderer.invoke(ipcChannel.pickPath, options) as Promise<string | null>,
}

contextBridge.exposeInMainWorld('sorted', bridge)
