/**
 * The renderer's only way to reach the backend. It speaks the API contract
 * over Electron IPC when the preload bridge is present, else over the browser
 * mode WebSocket, presenting the per-launch token as a subprotocol (browsers
 * cannot set headers on a WebSocket; the server takes no cookie).
 */
import type { EventName, EventPayload, MethodName, MethodRequest, MethodResponse } from '../../../src-main/api/contract'
import type { ApiErrorData } from '../../../src-main/api/errors'
import type { SortedBridge } from '../../../src-main/api/bridge'
import type { IpcResult, ServerMessage } from '../../../src-main/api/protocol'
import { EventHub, type FollowListeners, type Listener } from './event-hub'
import { takePageToken, type TokenPage } from './page-token'

/**
 * The subprotocols of the browser-mode socket: the API's own, which the
 * server echoes, and `sorted.token.<token>`. The renderer may not import the
 * server's code, so these repeat src-main/server's apiProtocol and
 * tokenProtocolPrefix (a unit test holds them equal).
 */
export const apiProtocol = 'sorted.v1'
export const tokenProtocolPrefix = 'sorted.token.'

export type ConnectionState = 'connecting' | 'open' | 'closed'

export interface ApiClient {
  readonly transport: 'electron' | 'browser'
  call<M extends MethodName>(method: M, params: MethodRequest<M>): Promise<MethodResponse<M>>
  on<E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void): () => void
  /**
   * The events of one generation, comparison, run or evaluation, by its id:
   * those that arrived before the caller knew the id first (kept briefly by
   * the transport), then the rest. See EventHub.follow.
   */
  follow(id: string, listeners: FollowListeners): () => void
  /** Connection state changes (IPC is always open). */
  onConnection(listener: (state: ConnectionState) => void): () => void
}

/** A failed call, with the backend's structured error. */
export class ClientError extends Error {
  readonly code: ApiErrorData['code']
  readonly issues: ApiErrorData['issues']
  constructor(data: ApiErrorData) {
    super(data.message)
    this.name = 'ClientError'
    this.code = data.code
    this.issues = data.issues
  }
}

function unwrap<T>(result: IpcResult): T {
  if (result.ok) return result.result as T
  throw new ClientError(result.error)
}

export function createIpcClient(bridge: SortedBridge): ApiClient {
  const hub = new EventHub()
  bridge.onEvent((event, payload) => hub.emit(event, payload))
  return {
    transport: 'electron',
    async call(method, params) {
      return unwrap(await bridge.invoke(method, params))
    },
    on(event, listener) {
      return hub.on(event, listener as Listener)
    },
    follow(id, listeners) {
      return hub.follow(id, listeners)
    },
    onConnection(listener) {
      listener('open')
      return () => {}
    },
  }
}

interface Pending {
  resolve: (value: unknown) => void
  reject: (error: Error) => void
}

/**
 * WebSocket client with request ids, and reconnection with backoff: requests
 * made while disconnected wait for the socket; requests in flight when it
 * drops fail, since the server may or may not have carried them out.
 */
export function createWebSocketClient(url: string, protocols: string[] = []): ApiClient {
  const hub = new EventHub()
  const connectionListeners = new Set<(state: ConnectionState) => void>()
  const pending = new Map<number, Pending>()
  let queue: string[] = []
  let nextId = 1
  let socket: WebSocket | undefined
  let state: ConnectionState = 'connecting'
  let retryMs = 250

  const setState = (next: ConnectionState) => {
    state = next
    for (const listener of connectionListeners) listener(next)
  }

  const connect = () => {
    setState('connecting')
    const ws = new WebSocket(url, protocols)
    socket = ws
    ws.onopen = () => {
      retryMs = 250
      setState('open')
      for (const frame of queue) ws.send(frame)
      queue = []
    }
    ws.onmessage = (event) => {
      const message = JSON.parse(String(event.data)) as ServerMessage
      if (message.type === 'event') hub.emit(message.event, message.payload)
      else if (message.type === 'response') {
        const waiter = pending.get(message.id)
        if (!waiter) return
        pending.delete(message.id)
        if (message.ok) waiter.resolve(message.result)
        else waiter.reject(new ClientError(message.error))
      } else console.error('Sorted Studio server:', message.error.message)
    }
    ws.onclose = () => {
      for (const [id, waiter] of pending) {
        waiter.reject(new ClientError({ code: 'internal', message: 'Connection to Sorted Studio was lost.' }))
        pending.delete(id)
      }
      setState('closed')
      setTimeout(connect, retryMs)
      retryMs = Math.min(retryMs * 2, 5000)
    }
  }
  connect()

  return {
    transport: 'browser',
    call(method, params) {
      const id = nextId++
      const frame = JSON.stringify({ type: 'request', id, method, params })
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve: resolve as (value: unknown) => void, reject })
        if (state === 'open' && socket?.readyState === WebSocket.OPEN) socket.send(frame)
        else queue.push(frame)
      })
    },
    on(event, listener) {
      return hub.on(event, listener as Listener)
    },
    follow(id, listeners) {
      return hub.follow(id, listeners)
    },
    onConnection(listener) {
      connectionListeners.add(listener)
      listener(state)
      return () => connectionListeners.delete(listener)
    },
  }
}

/**
 * The page globals createClient reads, typed here rather than through the DOM
 * lib: the renderer's unit tests import this module, and they are type-checked
 * by tsconfig.node.json, which has no `window`.
 */
interface PageGlobals extends TokenPage {
  sorted?: SortedBridge
  location: TokenPage['location'] & { protocol: string; host: string }
}

/**
 * Picks the transport: the preload bridge in Electron, else the WebSocket.
 * Undefined in browser mode when the page has no token (opened without the
 * address `sorted serve` printed): the server would refuse every call.
 */
export function createClient(): ApiClient | undefined {
  const page = globalThis as unknown as PageGlobals
  const bridge = page.sorted
  if (bridge) return createIpcClient(bridge)
  const token = takePageToken(page)
  if (token === undefined) return undefined
  const protocol = page.location.protocol === 'https:' ? 'wss:' : 'ws:'
  return createWebSocketClient(`${protocol}//${page.location.host}/api/ws`, [apiProtocol, `${tokenProtocolPrefix}${token}`])
}
