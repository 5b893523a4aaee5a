/**
 * Raw bytes over a TCP socket, for requests that fetch and node:http will not
 * send (they normalise or refuse odd targets, headers and frames).
 */
import { connect } from 'node:net'

export interface RawReply {
  /** Everything the server wrote, as latin1 text. */
  text: string
  /** The status codes of every response line in it, in order. */
  statuses: number[]
  /** The guard destroyed the socket: the server had not closed it. */
  guarded: boolean
}

export interface RawOptions {
  /** Reset the connection (TCP RST) as soon as the first bytes arrive back. */
  resetOnReply?: boolean
  /** Reset the connection right after sending: a client that gives up mid-request. */
  resetAfterSend?: boolean
  /**
   * Half-close after sending, for requests that may never be complete. Node
   * then drops a response it had not started (a static file being opened),
   * so requests that should be answered send `Connection: close` instead.
   */
  halfClose?: boolean
  /** Destroy the socket if it is still open after this long: a hang guard, not a speed check. */
  guardMs?: number
}

export function statusesOf(text: string): number[] {
  return [...text.matchAll(/^HTTP\/1\.1 (\d{3})/gm)].map((m) => Number(m[1]))
}

/** Sends `bytes` and collects the reply until the server closes the connection. */
export function rawExchange(port: number, bytes: string | Buffer, options: RawOptions = {}): Promise<RawReply> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    const socket = connect({ host: '127.0.0.1', port })
    let guarded = false
    const finish = () => {
      clearTimeout(guard)
      const text = Buffer.concat(chunks).toString('latin1')
      resolve({ text, statuses: statusesOf(text), guarded })
    }
    const guard = setTimeout(() => {
      guarded = true
      socket.destroy()
    }, options.guardMs ?? 10_000)
    socket.on('data', (chunk) => {
      chunks.push(chunk)
      if (options.resetOnReply) socket.resetAndDestroy()
    })
    socket.on('error', () => {})
    socket.on('close', finish)
    socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes)
    if (options.halfClose) socket.end()
    if (options.resetAfterSend) socket.resetAndDestroy()
  })
}
