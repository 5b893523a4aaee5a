/**
 * The contract over Electron IPC: one `ipcMain.handle` channel per method,
 * one channel for pushed events. Only our own window may call.
 */
import { ipcMain, webContents, type IpcMainInvokeEvent } from 'electron'
import { methodNames } from '../api/contract'
import { ApiError } from '../api/errors'
import { ipcChannel } from '../api/channels'
import type { IpcResult } from '../api/protocol'
import type { Backend } from '../services/backend'

export function registerIpc(backend: Backend, isOwnFrame: (url: string) => boolean): () => void {
  for (const method of methodNames) {
    ipcMain.handle(ipcChannel.request(method), async (event: IpcMainInvokeEvent, params: unknown): Promise<IpcResult> => {
      const url = event.senderFrame?.url ?? ''
      if (!isOwnFrame(url)) return { ok: false, error: new ApiError('bad_message', `Calls from ${url || 'an unknown frame'} are refused.`).toData() }
      return backend.dispatch(method, params)
    })
  }
  const unsubscribe = backend.subscribe((event, payload) => {
    for (const contents of webContents.getAllWebContents()) {
      if (!contents.isDestroyed()) contents.send(ipcChannel.events, event, payload)
    }
  })
  return () => {
    unsubscribe()
    for (const method of methodNames) ipcMain.removeHandler(ipcChannel.request(method))
  }
}
