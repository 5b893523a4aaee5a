/**
 * Electron IPC channel names: one `ipcMain.handle` channel per method, one
 * channel for all pushed events. Dependency-free on purpose: the sandboxed
 * preload can load nothing but Electron's own modules.
 */
export const ipcChannel = {
  request: (method: string) => `sorted:${method}`,
  events: 'sorted:event',
} as const
