import { events, type EventName, type EventPayload } from '../api/contract'

export type EventListener = (event: EventName, payload: unknown) => void

/**
 * Fan-out of pushed events to every connected window or socket. Payloads are
 * checked against the contract once, here, rather than in each transport.
 */
export class EventBus {
  private readonly listeners = new Set<EventListener>()

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  emit<E extends EventName>(event: E, payload: EventPayload<E>): void {
    const checked = events[event].parse(payload)
    for (const listener of this.listeners) listener(event, checked)
  }
}
