import { describe, expect, it } from 'vitest'
import type { Vote } from '../../../src-main/api/contract'
import { useCompareStore } from '../../../src-renderer/src/stores/compare'
import { deferred, FakeClient, piniaWith } from './fake-client'

/** Streamed tokens reach the panes once per frame (a 16 ms timer where there are no frames). */
const nextFrame = () => new Promise((resolve) => setTimeout(resolve, 20))

const model = { path: '/m/tiny', name: 'tiny', numLayers: 3, exits: [1, 2, 3] }

function ready(client: FakeClient) {
  piniaWith(client)
  const store = useCompareStore()
  store.contenders.a = { modelPath: '/m/tiny', exit: 1, model }
  store.contenders.b = { modelPath: '/m/tiny', exit: 3, model }
  store.prompt = ' say hi '
  return store
}

const vote: Vote = {
  comparisonId: 'c1',
  setId: 's',
  itemId: 'i',
  instruction: 'say hi',
  input: '',
  a: { generationId: 'g-a', modelId: 'm', modelName: 'tiny', modelPath: '/m/tiny', exit: 1, precision: 'fp32', mode: null, output: 'hi', tokensPerSecond: 9 },
  b: { generationId: 'g-b', modelId: 'm', modelName: 'tiny', modelPath: '/m/tiny', exit: 3, precision: 'fp32', mode: null, output: 'hello', tokensPerSecond: 3 },
  ab: '1',
  ba: '2',
  votedOrders: ['ab'],
  preferred: 'a',
  createdAt: 1,
}

describe('compare store', () => {
  it('asks for both contenders, then builds each pane from its own streamed tokens', async () => {
    const client = new FakeClient().handle('compare.generate', () => ({ compareId: 'x' }))
    const store = ready(client)
    await store.run()
    expect(client.calls[0]).toEqual({ method: 'compare.generate', params: { prompt: 'say hi', a: { modelPath: '/m/tiny', exit: 1 }, b: { modelPath: '/m/tiny', exit: 3 }, maxNewTokens: 128 } })

    client.emit('compare.status', { compareId: 'x', side: 'a', state: 'generating' })
    client.emit('compare.token', { compareId: 'x', side: 'a', index: 0, text: 'h' })
    client.emit('compare.token', { compareId: 'other', side: 'a', index: 1, text: 'NOT MINE' })
    client.emit('compare.token', { compareId: 'x', side: 'a', index: 1, text: 'i' })
    await nextFrame()
    expect(store.panes.a).toMatchObject({ state: 'generating', text: 'hi', tokens: 2 })
    expect(store.panes.b.state).toBe('queued')
    expect(store.running).toBe(true)
    expect(store.canVote).toBe(false)

    client.emit('compare.done', { compareId: 'x', side: 'a', finishReason: 'eos', text: 'hi', exit: 1, tokensPerSecond: 9, generationId: 'g-a', itemId: 'i' })
    client.emit('compare.done', { compareId: 'x', side: 'b', finishReason: 'length', text: 'hello', exit: 3, tokensPerSecond: 3, generationId: 'g-b', itemId: 'i' })
    expect(store.panes.b).toMatchObject({ state: 'done', text: 'hello', tokensPerSecond: 3, generationId: 'g-b' })
    expect(store.running).toBe(false)
    expect(store.canVote).toBe(true)
  })

  it('asks for a contender\'s precision when it is not fp32: int4 against fp32 of one model and exit', async () => {
    const client = new FakeClient().handle('compare.generate', () => ({ compareId: 'x' }))
    const store = ready(client)
    store.contenders.a = { ...store.contenders.a, exit: 3, precision: 'int4' }
    store.contenders.b = { ...store.contenders.b, precision: 'fp32' }
    await store.run()
    expect(client.calls[0]?.params).toMatchObject({ a: { modelPath: '/m/tiny', exit: 3, precision: 'int4' }, b: { modelPath: '/m/tiny', exit: 3 } })
    expect((client.calls[0]?.params as { b: object }).b).not.toHaveProperty('precision')
    client.emit('compare.done', { compareId: 'x', side: 'a', finishReason: 'eos', text: 'hi', exit: 3, tokensPerSecond: 9, precision: 'int4', generationId: 'g-a' })
    expect(store.panes.a.precision).toBe('int4')
  })

  it('asks for Exact or Auto (τ) without an exit, and shows the acceptance or mean exit that comes back', async () => {
    const client = new FakeClient().handle('compare.generate', () => ({ compareId: 'x' }))
    const store = ready(client)
    store.contenders.a = { ...store.contenders.a, exit: 3, mode: { kind: 'exact' } }
    store.contenders.b = { ...store.contenders.b, exit: 3, precision: 'int4', mode: { kind: 'auto', tau: 0.6 } }
    await store.run()
    expect(client.calls[0]?.params).toMatchObject({
      a: { modelPath: '/m/tiny', mode: { kind: 'exact' } },
      b: { modelPath: '/m/tiny', mode: { kind: 'auto', tau: 0.6 }, precision: 'int4' },
    })
    expect((client.calls[0]?.params as { a: object }).a).not.toHaveProperty('exit')
    client.emit('compare.done', { compareId: 'x', side: 'a', finishReason: 'eos', text: 'hi', exit: 3, tokensPerSecond: 9, mode: { kind: 'exact' }, acceptanceRate: 0.75, generationId: 'g-a' })
    client.emit('compare.done', { compareId: 'x', side: 'b', finishReason: 'eos', text: 'ho', exit: 3, tokensPerSecond: 12, mode: { kind: 'auto', tau: 0.6 }, meanExit: 2.5, generationId: 'g-b' })
    expect(store.panes.a).toMatchObject({ mode: { kind: 'exact' }, acceptanceRate: 0.75 })
    expect(store.panes.b).toMatchObject({ mode: { kind: 'auto', tau: 0.6 }, meanExit: 2.5 })
  })

  it('keeps events that arrive before the backend has answered with the id', async () => {
    const started = deferred<{ compareId: string }>()
    const client = new FakeClient().handle('compare.generate', () => started.promise)
    const store = ready(client)
    const running = store.run()
    client.emit('compare.token', { compareId: 'x', side: 'a', index: 0, text: 'early' })
    started.resolve({ compareId: 'x' })
    await running
    await nextFrame()
    expect(store.panes.a.text).toBe('early')
  })

  it('lands the final answer after tokens still waiting for a frame, without doubling them', async () => {
    const client = new FakeClient().handle('compare.generate', () => ({ compareId: 'x' }))
    const store = ready(client)
    await store.run()
    client.emit('compare.token', { compareId: 'x', side: 'a', index: 0, text: 'h' })
    client.emit('compare.token', { compareId: 'x', side: 'a', index: 1, text: 'i' })
    client.emit('compare.done', { compareId: 'x', side: 'a', finishReason: 'eos', text: 'hi', exit: 1, tokensPerSecond: 9, generationId: 'g-a' })
    expect(store.panes.a).toMatchObject({ state: 'done', text: 'hi', tokens: 2 })
    await nextFrame()
    expect(store.panes.a).toMatchObject({ state: 'done', text: 'hi', tokens: 2 })
  })

  it('votes for the answers as shown, left first, and lists the vote once even when it changes', async () => {
    const client = new FakeClient()
      .handle('compare.generate', () => ({ compareId: 'x' }))
      .handle('evaluations.vote', (params) => ({ vote: { ...vote, ab: params.verdict, ba: params.verdict === '1' ? '2' : params.verdict === '2' ? '1' : 'Tie', preferred: params.verdict === '1' ? 'a' : params.verdict === '2' ? 'b' : 'tie' } }))
    const store = ready(client)
    await store.run()
    client.emit('compare.done', { compareId: 'x', side: 'a', finishReason: 'eos', text: 'hi', exit: 1, tokensPerSecond: 9, generationId: 'g-a' })
    client.emit('compare.done', { compareId: 'x', side: 'b', finishReason: 'eos', text: 'hello', exit: 3, tokensPerSecond: 3, generationId: 'g-b' })

    await store.castVote('1')
    await store.castVote('Tie')
    expect(client.calls.filter((c) => c.method === 'evaluations.vote').map((c) => c.params)).toEqual([
      { firstGenerationId: 'g-a', secondGenerationId: 'g-b', verdict: '1' },
      { firstGenerationId: 'g-a', secondGenerationId: 'g-b', verdict: 'Tie' },
    ])
    expect(store.votes.map((v) => [v.comparisonId, v.preferred])).toEqual([['c1', 'tie']])
  })

  it('cannot vote on an answer that was not stored (stopped or failed)', async () => {
    const client = new FakeClient().handle('compare.generate', () => ({ compareId: 'x' }))
    const store = ready(client)
    await store.run()
    client.emit('compare.done', { compareId: 'x', side: 'a', finishReason: 'cancelled', text: 'h', exit: 1, tokensPerSecond: 0 })
    client.emit('compare.done', { compareId: 'x', side: 'b', finishReason: 'error', text: '', exit: null, tokensPerSecond: 0, error: 'boom' })
    expect(store.panes.a.state).toBe('cancelled')
    expect(store.panes.b).toMatchObject({ state: 'error', error: 'boom' })
    expect(store.canVote).toBe(false)
  })

  it('shows why the backend refused to start, and runs nothing without both contenders', async () => {
    const client = new FakeClient().handle('compare.generate', () => {
      throw new Error('b.exit: same contender as a')
    })
    const store = ready(client)
    await store.run()
    expect(store.error).toBe('b.exit: same contender as a')
    expect(store.panes.a.state).toBe('idle')

    store.contenders.b = { modelPath: '/m/other', exit: null, model: null }
    expect(store.canRun).toBe(false)
  })
})
