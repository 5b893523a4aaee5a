import { describe, expect, it } from 'vitest'
import type { RunDetails, RunSummary } from '../../../src-main/api/contract'
import { ClientError } from '../../../src-renderer/src/api/client'
import { useRunsStore } from '../../../src-renderer/src/stores/runs'
import { FakeClient, piniaWith } from './fake-client'

const summary = (patch: Partial<RunSummary> = {}): RunSummary => ({
  id: 'r1', status: 'running', mode: 'soft', modelId: 'm', outputModelId: null, totalSteps: 10, lastStep: 0, error: null,
  createdAt: 1, request: { modelPath: '/models/base' }, stepsDone: 0, ...patch,
})

const details = (patch: Partial<RunDetails> = {}): RunDetails => ({ run: summary(), metrics: [], checkpoints: [], outputPath: null, ...patch })

function storeWith(client: FakeClient) {
  piniaWith(client)
  return useRunsStore()
}

const points = (store: ReturnType<typeof useRunsStore>, key: string) => store.views.get('r1')!.curves.curves.find((c) => c.key === key)?.points.map((p) => p.x)

describe('runs store', () => {
  it('grows an open run’s curves and progress from events, and the list’s step counts', async () => {
    const client = new FakeClient().handle('runs.get', () => details()).handle('runs.list', () => ({ runs: [summary()] }))
    const store = storeWith(client)
    await store.load()
    await store.open('r1')
    client.emit('run.progress', { runId: 'r1', step: 1, totalSteps: 10, loss: { '1': 2, '2': 1.5 }, lr: 1e-3, tokensPerSecond: 500, etaSeconds: 9 })
    client.emit('run.progress', { runId: 'r1', step: 2, totalSteps: 10, loss: { '1': 1.9, '2': 1.4 }, lr: 1e-3, tokensPerSecond: 520, etaSeconds: 8 })
    client.emit('run.validation', { runId: 'r1', step: 2, loss: { '1': 2.1, '2': 1.6 }, perplexity: { '1': 8.2, '2': 4.9 } })
    const view = store.views.get('r1')!
    expect(points(store, 'train:1')).toEqual([1, 2])
    expect(points(store, 'validation:2')).toEqual([2])
    expect(view.version).toBe(4)
    expect(view.live).toEqual({ step: 2, totalSteps: 10, tokensPerSecond: 520, etaSeconds: 8, lr: 1e-3 })
    expect(store.runs[0]!.stepsDone).toBe(2)
  })

  it('keeps only the two newest checkpoints on disk, as the trainer does', async () => {
    const client = new FakeClient().handle('runs.get', () => details())
    const store = storeWith(client)
    await store.open('r1')
    for (const step of [2, 4, 6]) client.emit('run.checkpoint', { runId: 'r1', step, path: `/c/${step}` })
    expect(store.views.get('r1')!.checkpoints.map((c) => [c.step, c.onDisk])).toEqual([[2, false], [4, true], [6, true]])
    expect(store.views.get('r1')!.run.lastStep).toBe(6)
  })

  it('reads a run again when its status changes, so the page shows what is stored', async () => {
    let stored = details()
    const client = new FakeClient().handle('runs.get', () => stored)
    const store = storeWith(client)
    await store.open('r1')
    client.emit('run.progress', { runId: 'r1', step: 1, totalSteps: 10, loss: { '1': 2 }, lr: 1e-3, tokensPerSecond: 1, etaSeconds: 1 })
    stored = details({
      run: summary({ status: 'completed', outputModelId: 'out', stepsDone: 1 }),
      metrics: [{ step: 1, exit: 1, split: 'validation', loss: 1.5, lr: null, tokensPerSecond: null }],
      outputPath: '/models/out',
    })
    client.emit('run.status', { runId: 'r1', status: 'completed', out: '/models/out' })
    await expect.poll(() => store.views.get('r1')!.outputPath).toBe('/models/out')
    expect(store.views.get('r1')!.run.status).toBe('completed')
    expect(points(store, 'train:1')).toBeUndefined()
    expect(points(store, 'validation:1')).toEqual([1])
  })

  it('forgets a deleted run', async () => {
    const client = new FakeClient()
      .handle('runs.get', () => details())
      .handle('runs.list', () => ({ runs: [summary()] }))
      .handle('runs.remove', () => ({ removedPaths: ['/x.checkpoints'] }))
    const store = storeWith(client)
    await store.load()
    await store.open('r1')
    expect(await store.remove('r1', false)).toEqual(['/x.checkpoints'])
    expect(store.runs).toEqual([])
    expect(store.views.has('r1')).toBe(false)
    expect(client.calls.at(-1)).toEqual({ method: 'runs.remove', params: { runId: 'r1', deleteOutput: false } })
  })

  it('says why a run could not be opened, cancelled or deleted, without throwing at the page', async () => {
    const refuse = (message: string) => () => {
      throw new ClientError({ code: 'not_found', message })
    }
    const client = new FakeClient()
      .handle('runs.get', refuse('No run r9.'))
      .handle('runs.cancel', refuse('Run r1 is not running.'))
      .handle('runs.remove', refuse('Run r1 is running; cancel it first.'))
    const store = storeWith(client)
    expect(await store.open('r9')).toBeUndefined()
    expect(store.openError).toBe('No run r9.')
    expect(await store.cancel('r1')).toBe(false)
    expect(store.actionError).toBe('Run r1 is not running.')
    expect(await store.remove('r1', false)).toBeNull()
    expect(store.removeError).toBe('Run r1 is running; cancel it first.')

    client.handle('runs.get', () => details())
    expect(await store.open('r1')).toBeDefined()
    expect(store.openError).toBeNull()
  })
})
