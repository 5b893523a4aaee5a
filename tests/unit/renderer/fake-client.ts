/**
 * An in-memory ApiClient for the renderer's store tests: methods answer from
 * handlers the test sets, and the test pushes events and connection changes.
 * Events go through the real EventHub, so stores meet the transport's
 * buffering of events that arrive before their id is known.
 */
import { createPinia, setActivePinia, type Pinia } from 'pinia'
import { createApp } from 'vue'
import type { EventName, EventPayload, MethodName, MethodRequest, MethodResponse } from '../../../src-main/api/contract'
import type { ApiClient, ConnectionState } from '../../../src-renderer/src/api/client'
import { EventHub, type FollowListeners } from '../../../src-renderer/src/api/event-hub'
import { provideApi } from '../../../src-renderer/src/api/use-api'

type Handler<M extends MethodName> = (params: MethodRequest<M>) => Promise<MethodResponse<M>> | MethodResponse<M>

export class FakeClient implements ApiClient {
  readonly transport = 'browser' as const
  readonly calls: { method: MethodName; params: unknown }[] = []
  private readonly handlers = new Map<MethodName, (params: unknown) => unknown>()
  private readonly hub = new EventHub()
  private readonly connectionListeners = new Set<(state: ConnectionState) => void>()
  private connection: ConnectionState = 'connecting'

  handle<M extends MethodName>(method: M, handler: Handler<M>): this {
    this.handlers.set(method, handler as (params: unknown) => unknown)
    return this
  }

  async call<M extends MethodName>(method: M, params: MethodRequest<M>): Promise<MethodResponse<M>> {
    this.calls.push({ method, params })
    const handler = this.handlers.get(method)
    if (!handler) throw new Error(`FakeClient has no handler for ${method}`)
    return (await handler(params)) as MethodResponse<M>
  }

  on<E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void): () => void {
    return this.hub.on(event, listener as (payload: unknown) => void)
  }

  follow(id: string, listeners: FollowListeners): () => void {
    return this.hub.follow(id, listeners)
  }

  emit<E extends EventName>(event: E, payload: EventPayload<E>): void {
    this.hub.emit(event, payload)
  }

  onConnection(listener: (state: ConnectionState) => void): () => void {
    this.connectionListeners.add(listener)
    listener(this.connection)
    return () => this.connectionListeners.delete(listener)
  }

  setConnection(state: ConnectionState): void {
    this.connection = state
    for (const listener of this.connectionListeners) listener(state)
  }
}

/** A Pinia attached to an app that provides `client`, as main.ts wires it. */
export function piniaWith(client: ApiClient): Pinia {
  const app = createApp({})
  provideApi(app, client)
  const pinia = createPinia()
  app.use(pinia)
  setActivePinia(pinia)
  return pinia
}

/** A promise the test settles by hand, to observe state while a call is in flight. */
export function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (error: unknown) => void } {
  let resolve!: (value: T) => void
  let reject!: (error: unknown) => void
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)))
  return { promise, resolve, reject }
}
