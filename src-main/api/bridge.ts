import type { IpcResult } from './protocol'

/**
 * What the Electron preload exposes to the renderer as `window.sorted`: the
 * smallest surface that carries the contract. Method names and payloads are
 * validated in the main process, never trusted from here.
 */
export interface SortedBridge {
  invoke(method: string, params: unknown): Promise<IpcResult>
  /** Subscribes to every pushed event; returns the unsubscribe function. */
  onEvent(listener: (event: string, payload: unknown) => void): () => void
  /** The system's open dialog, for a file or a folder; resolves to the chosen path, or null when cancelled. */
  pickPath(options: PickPathOptions): Promise<string | null>
}

export interface PickPathOptions {
  kind: 'file' | 'folder'
  title: string
  /** File dialogs: which extensions to offer, e.g. [{ name: 'Datasets', extensions: ['json', 'jsonl'] }]. */
  filters?: { name: string; extensions: string[] }[]
}
