/**
 * The contract over WebSocket: one JSON message per frame. Every frame is
 * validated; a bad one is answered with a structured error and the
 * connection (and server) carry on.
 */
import { WebSocketServer, type WebSocket } from 'ws'
import type { Dispatch } from '../api/dispatch'
import { ApiError, issuesFromZod, describeIssues } from '../api/errors'
import { RequestMessage, type IpcResult, type ServerMessage } from '../api/protocol'

/**
 * The subprotocol a browser asks for, next to `sorted.token.<token>` (see
 * security.ts); the server answers with this one, never the token's, and the
 * renderer's client names the same string.
 */
export const apiProtocol = 'sorted.v1'

/** Requests are small JSON documents; large payloads travel over files, not frames. */
export const maxFrameBytes = 4 * 1024 * 1024

function send(socket: WebSocket, message: ServerMessage): void {
  if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(message))
}

function badMessage(socket: WebSocket, message: string, id?: number): void {
  const error = new ApiError('bad_message', message)
  if (id === undefined) send(socket, { type: 'error', error: error.toData() })
  else send(socket, { type: 'response', id, ok: false, error: error.toData() })
}

/** The id of a frame that failed validation, if it had a usable one, so the client's call can fail. */
function salvageId(value: unknown): number | undefined {
  if (typeof value !== 'object' || value === null) return undefined
  const id = (value as { id?: unknown }).id
  return typeof id === 'number' && Number.isInteger(id) && id >= 0 ? id : undefined
}

export async function handleFrame(socket: WebSocket, data: string, dispatch: Dispatch): Promise<void> {
  let value: unknown
  try {
    value = JSON.parse(data)
  } catch {
    badMessage(socket, 'Message is not valid JSON.')
    return
  }
  const parsed = RequestMessage.safeParse(value)
  if (!parsed.success) {
    badMessage(socket, `Message is not a request: ${describeIssues(issuesFromZod(parsed.error))}`, salvageId(value))
    return
  }
  const { id, method, params } = parsed.data
  let outcome: IpcResult
  try {
    outcome = await dispatch(method, params)
  } catch {
    // dispatch reports failures as outcomes; a throw is a bug, and it must
    // not reach the process as an unhandled rejection.
    outcome = { ok: false, error: new ApiError('internal', `${method} failed inside the server.`).toData() }
  }
  send(socket, outcome.ok ? { type: 'response', id, ok: true, result: outcome.result } : { type: 'response', id, ok: false, error: outcome.error })
}

export function createSocketServer(dispatch: Dispatch): { wss: WebSocketServer; broadcast(event: string, payload: unknown): void } {
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: maxFrameBytes,
    // Only called when the client offers subprotocols; a client that offers
    // some but not ours gets none back, and a browser then gives up.
    handleProtocols: (offered) => (offered.has(apiProtocol) ? apiProtocol : false),
  })
  wss.on('connection', (socket) => {
    socket.on('message', (data, isBinary) => {
      if (isBinary) {
        badMessage(socket, 'Binary frames are not part of the protocol; send JSON text.')
        return
      }
      void handleFrame(socket, data.toString(), dispatch)
    })
    // A frame over maxPayload closes that socket (code 1009); the server stays up.
    socket.on('error', () => socket.terminate())
  })
  return {
    wss,
    broadcast(event, payload) {
      for (const client of wss.clients) send(client, { type: 'event', event, payload })
    },
  }
}
