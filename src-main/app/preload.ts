/**
 * The only bridge between the sandboxed renderer and the main process:
 * `window.sorted.invoke(method, params)` and `window.sorted.onEvent(listener)`.
 * It exposes no Node or Electron object, only these two functions.
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
}

contextBridge.exposeInMainWorld('sorted', bridge)
