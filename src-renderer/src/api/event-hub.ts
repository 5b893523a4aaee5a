/**
 * Where events from the backend meet their listeners, in both transports.
 *
 * `on(event)` hears every event of a name. `follow(id)` hears the events of
 * one piece of work (a generation, a comparison, a run, an evaluation),
 * whatever their names. A caller that starts work learns its id only when the
 * call answers, and the work's first events (a chat reply's first tokens) may
 * have arrived by then; so until someone follows an id, its events wait here,
 * and the first follower gets them, once, in arrival order, before anything
 * newer. The wait is short and bounded (events per id, ids, age), so the
 * events of work nobody here follows (another window's) cost little and are
 * soon forgotten.
 */
import type { EventName, EventPayload } from '../../../src-main/api/contract'

/** Which payload field names the work an event belongs to. */
export const correlationField = {
  'generation.token': 'generationId',
  'generation.done': 'generationId',
  'chat.replyDone': 'generationId',
  'compare.status': 'compareId',
  'compare.token': 'compareId',
  'compare.done': 'compareId',
  'run.progress': 'runId',
  'run.status': 'runId',
  'run.validation': 'runId',
  'run.checkpoint': 'runId',
  'evaluation.progress': 'evaluationId',
  'evaluation.done': 'evaluationId',
} as const satisfies { [E in EventName]?: keyof EventPayload<E> }

export type CorrelatedEvent = keyof typeof correlationField

/** A follower's listeners, one per event name it cares about. */
export type FollowListeners = { [E in CorrelatedEvent]?: (payload: EventPayload<E>) => void }

export interface WaitLimits {
  /** Events kept per id; later ones are dropped (the work's start matters most, and the call answers long before this many). */
  eventsPerId: number
  /** Ids kept; the oldest is forgotten first. */
  ids: number
  /** An id's events are forgotten this long after its first one arrived. */
  ageMs: number
}

/** A call answers in milliseconds; these leave room for a busy machine and bound the cost of unfollowed work. */
export const defaultWaitLimits: WaitLimits = { eventsPerId: 4096, ids: 32, ageMs: 30_000 }

export type Listener = (payload: unknown) => void
interface Arrival {
  event: CorrelatedEvent
  payload: unknown
}
interface Waiting {
  since: number
  arrivals: Arrival[]
}
interface Follower {
  listeners: FollowListeners
  /** Arrivals to hand over before live ones: set from follow() until the replay runs. */
  backlog: Arrival[] | null
  stopped: boolean
}

function isCorrelated(event: string): event is CorrelatedEvent {
  return Object.hasOwn(correlationField, event)
}

export class EventHub {
  private readonly listeners = new Map<string, Set<Listener>>()
  private readonly followers = new Map<string, Set<Follower>>()
  /** By id, oldest first (a Map keeps insertion order). */
  private readonly waiting = new Map<string, Waiting>()

  constructor(
    private readonly limits: WaitLimits = defaultWaitLimits,
    private readonly now: () => number = () => Date.now(),
  ) {}

  on(event: string, listener: Listener): () => void {
    let set = this.listeners.get(event)
    if (!set) this.listeners.set(event, (set = new Set()))
    set.add(listener)
    return () => set.delete(listener)
  }

  /**
   * The events of the work `id`: those waiting for it first, then the rest as
   * they arrive. Listeners are never called before follow() returns (the
   * caller has its stop function in hand, even if the work is already over).
   */
  follow(id: string, listeners: FollowListeners): () => void {
    const follower: Follower = { listeners, backlog: this.waiting.get(id)?.arrivals ?? [], stopped: false }
    this.waiting.delete(id)
    let set = this.followers.get(id)
    if (!set) this.followers.set(id, (set = new Set()))
    set.add(follower)
    void Promise.resolve().then(() => {
      const backlog = follower.backlog ?? []
      follower.backlog = null
      for (const arrival of backlog) this.deliver(follower, arrival)
    })
    return () => {
      follower.stopped = true
      set.delete(follower)
      if (set.size === 0 && this.followers.get(id) === set) this.followers.delete(id)
    }
  }

  emit(event: string, payload: unknown): void {
    for (const listener of this.listeners.get(event) ?? []) listener(payload)
    if (!isCorrelated(event)) return
    const id = (payload as Record<string, unknown> | null)?.[correlationField[event]]
    if (typeof id !== 'string') return
    const arrival: Arrival = { event, payload }
    const followers = this.followers.get(id)
    if (followers) {
      for (const follower of [...followers]) {
        if (follower.backlog) follower.backlog.push(arrival)
        else this.deliver(follower, arrival)
      }
      return
    }
    this.keep(id, arrival)
  }

  /** How many events wait for a follower, over all ids (for tests and diagnostics). */
  waitingCount(): number {
    let count = 0
    for (const { arrivals } of this.waiting.values()) count += arrivals.length
    return count
  }

  private deliver(follower: Follower, arrival: Arrival): void {
    if (follower.stopped) return
    const listener = follower.listeners[arrival.event] as Listener | undefined
    listener?.(arrival.payload)
  }

  private keep(id: string, arrival: Arrival): void {
    const now = this.now()
    this.forgetOlderThan(now - this.limits.ageMs)
    let waiting = this.waiting.get(id)
    if (!waiting) {
      while (this.waiting.size > 0 && this.waiting.size >= this.limits.ids) this.waiting.delete(this.waiting.keys().next().value!)
      this.waiting.set(id, (waiting = { since: now, arrivals: [] }))
    }
    if (waiting.arrivals.length < this.limits.eventsPerId) waiting.arrivals.push(arrival)
  }

  private forgetOlderThan(cutoff: number): void {
    for (const [id, waiting] of this.waiting) {
      if (waiting.since >= cutoff) break
      this.waiting.delete(id)
    }
  }
}
