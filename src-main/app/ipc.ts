/**
 * The contract over Electron IPC: one `ipcMain.handle` channel per method,
 * one channel for pushed events, and the open dialog (which only the
 * desktop app has: browser mode types paths or uploads). Only our own
 * window may call.
 */
import { BrowserWindow, dialog, ipcMain, webContents, type IpcMainInvokeEvent } from 'electron'
import { z } from 'zod'
import { methodNames } from '../api/contract'
import { ApiError } from '../api/errors'
import { ipcChannel } from '../api/channels'
import type { IpcResult } from '../api/protocol'
import type { Backend } from '../services/backend'

/** What the renderer may ask of the open dialog (checked: the renderer is not trusted). */
const PickPathOptions = z
  .object({
    kind: z.enum(['file', 'folder']),
    title: z.string().max(200),
    filters: z.array(z.object({ name: z.string().max(100), extensions: z.array(z.string().regex(/^[A-Za-z0-9]+$/)).max(20) })).max(10).optional(),
  })
  .strict()

export function registerIpc(backend: Backend, isOwnFrame: (url: string) => boolean): () => void {
  for (const method of methodNames) {
    ipcMain.handle(ipcChannel.request(method), async (event: IpcMainInvokeEvent, params: unknown): Promise<IpcResult> => {
      const url = event.senderFrame?.url ?? ''
      if (!isOwnFrame(url)) return { ok: false, error: new ApiError('bad_message', `Calls from ${url || 'an unknown frame'} are refused.`).toData() }
      return backend.dispatch(method, params)
    })
  }
  ipcMain.handle(ipcChannel.pickPath, async (event: IpcMainInvokeEvent, raw: unknown): Promise<string | null> => {
    if (!isOwnFrame(event.senderFrame?.url ?? '')) return null
    const options = PickPathOptions.safeParse(raw)
    if (!options.success) return null
    const { kind, title, filters } = options.data
    const window = BrowserWindow.fromWebContents(event.sender)
    const properties: ('openFile' | 'openDirectory')[] = [kind === 'file' ? 'openFile' : 'openDirectory']
    const dialogOptions = { title, properties, ...(filters ? { filters } : {}) }
    const chosen = window ? await dialog.showOpenDialog(window, dialogOptions) : await dialog.showOpenDialog(dialogOptions)
    return chosen.canceled ? null : (chosen.filePaths[0] ?? null)
  })
  const unsubscribe = backend.subscribe((event, payload) => {
    for (const contents of webContents.getAllWebContents()) {
      if (!contents.isDestroyed()) contents.send(ipcChannel.events, event, payload)
    }
  })
  return () => {
    unsubscribe()
    for (const method of methodNames) ipcMain.removeHandler(ipcChannel.request(method))
    ipcMain.removeHandler(ipcChannel.pickPath)
  }
}
