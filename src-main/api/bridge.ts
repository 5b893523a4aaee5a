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
}
