import { describe, expect, it } from 'vitest'
import type { SortedBridge } from '../../../src-main/api/bridge'
import { createIpcClient } from '../../../src-renderer/src/api/client'
import { EventHub, type WaitLimits } from '../../../src-renderer/src/api/event-hub'

const token = (generationId: string, index: number) => ({ generationId, index, id: index, text: `t${index}`, exit: 1 })
const done = (generationId: string) => ({ chatId: 'c', generationId })
/** Replays run after follow() returns, in a microtask. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0))

function hub(limits: Partial<WaitLimits> = {}) {
  let clock = 1000
  const events = new EventHub({ eventsPerId: 100, ids: 4, ageMs: 10_000, ...limits }, () => clock)
  return { events, advance: (ms: number) => (clock += ms) }
}

/** Follows `id`, recording what arrives as "event:index-or-id". */
function record(events: EventHub, id: string) {
  const seen: string[] = []
  const stop = events.follow(id, {
    'generation.token': (t) => seen.push(`token:${t.index}`),
    'chat.replyDone': (d) => seen.push(`done:${d.generationId}`),
  })
  return { seen, stop }
}

describe('event hub: following one piece of work by its id', () => {
  it('hands a follower the events that arrived before it, once and in order, then the live ones', async () => {
    const { events } = hub()
    events.emit('generation.token', token('g1', 0))
    events.emit('generation.token', token('other', 0))
    events.emit('generation.token', token('g1', 1))

    const first = record(events, 'g1')
    // A live event between follow() and the replay still lands after the replay.
    events.emit('generation.token', token('g1', 2))
    expect(first.seen).toEqual([])
    await settle()
    events.emit('generation.token', token('g1', 3))
    events.emit('chat.replyDone', done('g1'))
    expect(first.seen).toEqual(['token:0', 'token:1', 'token:2', 'token:3', 'done:g1'])

    // Delivered once: a second follower of the same id gets nothing from before it.
    const second = record(events, 'g1')
    await settle()
    expect(second.seen).toEqual([])
    expect(events.waitingCount()).toBe(1) // only the other generation's token waits
  })

  it('lets listeners of an event name hear every event, followed or not', () => {
    const { events } = hub()
    const heard: string[] = []
    events.on('generation.token', (t) => heard.push((t as { generationId: string }).generationId))
    record(events, 'g1')
    events.emit('generation.token', token('g1', 0))
    events.emit('generation.token', token('g2', 0))
    expect(heard).toEqual(['g1', 'g2'])
  })

  it('delivers nothing after the follower stops, not even events that waited for it', async () => {
    const { events } = hub()
    events.emit('generation.token', token('g1', 0))
    const { seen, stop } = record(events, 'g1')
    stop()
    await settle()
    events.emit('generation.token', token('g1', 1))
    expect(seen).toEqual([])
  })

  it('keeps a bounded number of events per id, the first ones', async () => {
    const { events } = hub({ eventsPerId: 3 })
    for (let i = 0; i < 10; i++) events.emit('generation.token', token('g1', i))
    expect(events.waitingCount()).toBe(3)
    const { seen } = record(events, 'g1')
    await settle()
    expect(seen).toEqual(['token:0', 'token:1', 'token:2'])
  })

  it('keeps a bounded number of ids, forgetting the oldest first', async () => {
    const { events } = hub({ ids: 2 })
    for (const id of ['g1', 'g2', 'g3']) events.emit('generation.token', token(id, 0))
    expect(events.waitingCount()).toBe(2)
    const oldest = record(events, 'g1')
    const newest = record(events, 'g3')
    await settle()
    expect(oldest.seen).toEqual([])
    expect(newest.seen).toEqual(['token:0'])
  })

  it('forgets the events of work nobody followed in time', async () => {
    const { events, advance } = hub({ ageMs: 10_000 })
    events.emit('generation.token', token('g1', 0))
    advance(10_001)
    events.emit('generation.token', token('g2', 0))
    expect(events.waitingCount()).toBe(1)
    const late = record(events, 'g1')
    await settle()
    expect(late.seen).toEqual([])
  })

  it('keeps nothing of a piece of work once its follower has had it', async () => {
    const { events } = hub()
    events.emit('generation.token', token('g1', 0))
    events.emit('chat.replyDone', done('g1'))
    const { seen, stop } = record(events, 'g1')
    await settle()
    stop()
    expect(seen).toEqual(['token:0', 'done:g1'])
    expect(events.waitingCount()).toBe(0)
  })

  it('keeps nothing for events that belong to no piece of work', () => {
    const { events } = hub()
    events.emit('models.changed', {})
    events.emit('engine.status', { state: 'empty' })
    expect(events.waitingCount()).toBe(0)
  })
})

describe('the client transport', () => {
  it('replays a generation\'s tokens that arrived before the call that started it answered', async () => {
    let push!: (event: string, payload: unknown) => void
    let answer!: () => void
    const bridge: SortedBridge = {
      onEvent: (listener) => ((push = listener), () => {}),
      invoke: () => new Promise((resolve) => (answer = () => resolve({ ok: true, result: { compareId: 'x' } }))),
    }
    const client = createIpcClient(bridge)
    const started = client.call('compare.generate', { prompt: 'hi', a: { modelPath: '/m', exit: 1 }, b: { modelPath: '/m', exit: 2 } })
    push('compare.status', { compareId: 'x', side: 'a', state: 'generating' })
    push('compare.token', { compareId: 'x', side: 'a', index: 0, text: 'early' })
    answer()
    const { compareId } = await started
    const seen: string[] = []
    client.follow(compareId, { 'compare.status': (s) => seen.push(s.state), 'compare.token': (t) => seen.push(t.text) })
    push('compare.token', { compareId: 'x', side: 'a', index: 1, text: 'late' })
    await settle()
    expect(seen).toEqual(['generating', 'early', 'late'])
  })
})
