import { describe, expect, it } from 'vitest'
import type { EvalSetSummary, EvaluationResults } from '../../../src-main/api/contract'
import { useEvaluationsStore } from '../../../src-renderer/src/stores/evaluations'
import { FakeClient, piniaWith } from './fake-client'

const model = { path: '/m/tiny', name: 'tiny', numLayers: 3, exits: [1, 2, 3] }
const set: EvalSetSummary = { id: 's1', name: 'set', format: 'plain', itemCount: 3, withReferences: 3, createdAt: 1 }
const noRefs: EvalSetSummary = { ...set, id: 's2', withReferences: 1 }

function results(setId: string): EvaluationResults {
  return { set: { ...set, id: setId }, judges: [], contenders: [], pairs: [], matrices: [] }
}

function storeWith(client: FakeClient) {
  piniaWith(client)
  return useEvaluationsStore()
}

describe('evaluations store', () => {
  it('says what is missing before an evaluation can start', async () => {
    const client = new FakeClient().handle('evaluations.sets', () => ({ sets: [set, noRefs] })).handle('evaluations.results', ({ setId }) => results(setId))
    const store = storeWith(client)
    await store.loadSets()
    expect(store.blocker).toBe('Choose or import an evaluation set.')
    await store.selectSet('s2')
    store.a = { modelPath: '/m/tiny', exit: 'every', model }
    store.b = { modelPath: '/m/tiny', exit: 3, model }
    expect(store.blocker).toBe('The reference judge needs a reference answer for every item; 2 of 3 have none.')
    store.judgeKind = 'pandalm'
    expect(store.blocker).toBe('Give the PandaLM judge model folder.')
    store.pandalmPath = '/m/judge'
    expect(store.blocker).toBeNull()
  })

  it('starts A in int4 or in a mode against B in its own weights: precision and mode go with each side, a mode without an exit', async () => {
    const client = new FakeClient()
      .handle('evaluations.sets', () => ({ sets: [set] }))
      .handle('evaluations.results', ({ setId }) => results(setId))
      .handle('evaluations.start', () => ({ evaluationId: 'e1' }))
    const store = storeWith(client)
    await store.loadSets()
    await store.selectSet('s1')
    store.a = { modelPath: '/m/tiny', exit: 'every', model, precision: 'int4' }
    store.b = { modelPath: '/m/tiny', exit: 3, model, precision: 'fp32' }
    await store.start()
    expect(client.calls.find((c) => c.method === 'evaluations.start')?.params).toMatchObject({ a: { modelPath: '/m/tiny', precision: 'int4' }, b: { modelPath: '/m/tiny', exit: 3 }, matrix: true })

    client.emit('evaluation.done', { evaluationId: 'e1', ok: true, setId: 's1', rows: [] })
    store.a = { modelPath: '/m/tiny', exit: 3, model, mode: { kind: 'auto', tau: 0.5 } }
    await store.start()
    const second = client.calls.filter((c) => c.method === 'evaluations.start')[1]?.params as Record<string, unknown>
    expect(second).toMatchObject({ a: { modelPath: '/m/tiny', mode: { kind: 'auto', tau: 0.5 } }, matrix: false })
    expect(second['a']).not.toHaveProperty('exit')
  })

  it('starts a matrix for every exit of A, follows its progress, and reloads the results when it ends', async () => {
    const client = new FakeClient()
      .handle('evaluations.sets', () => ({ sets: [set] }))
      .handle('evaluations.results', ({ setId }) => results(setId))
      .handle('evaluations.start', () => ({ evaluationId: 'e1' }))
    const store = storeWith(client)
    await store.loadSets()
    await store.selectSet('s1')
    store.a = { modelPath: '/m/tiny', exit: 'every', model }
    store.b = { modelPath: '/m/b', exit: 3, model }
    store.maxNewTokens = 4
    await store.start()
    expect(client.calls.find((c) => c.method === 'evaluations.start')?.params).toEqual({
      setId: 's1',
      a: { modelPath: '/m/tiny' },
      b: { modelPath: '/m/b', exit: 3 },
      judge: 'reference',
      matrix: true,
      maxNewTokens: 4,
    })
    expect(store.blocker).toBe('An evaluation is running.')

    const progress = { evaluationId: 'e1', setId: 's1', stage: 'judging @1', done: 1, total: 3, overallDone: 7, overallTotal: 21, etaSeconds: 3 }
    client.emit('evaluation.progress', { ...progress, evaluationId: 'someone else' })
    expect(store.progress).toBeNull()
    client.emit('evaluation.progress', progress)
    expect(store.progress).toEqual(progress)

    const before = client.calls.filter((c) => c.method === 'evaluations.results').length
    client.emit('evaluation.done', { evaluationId: 'e1', ok: false, cancelled: true, error: 'cancelled', setId: 's1', rows: [] })
    expect(store.running).toBe(false)
    expect(store.lastDone?.cancelled).toBe(true)
    await Promise.resolve()
    expect(client.calls.filter((c) => c.method === 'evaluations.results').length).toBe(before + 1)
  })

  it('picks up an evaluation that was running before the page opened', async () => {
    const progress = { evaluationId: 'e9', setId: 's1', stage: 'answers of b@3', done: 1, total: 3, overallDone: 1, overallTotal: 9, etaSeconds: null }
    const client = new FakeClient().handle('evaluations.running', () => ({ evaluations: [{ evaluationId: 'e9', request: {}, setId: 's1', progress }] }))
    const store = storeWith(client)
    await store.loadRunning()
    expect([store.evaluationId, store.selectedSetId, store.progress]).toEqual(['e9', 's1', progress])
  })

  it('reports a file that could not be imported', async () => {
    const client = new FakeClient().handle('evaluations.importSet', () => {
      throw new Error('/d/bad.jsonl:2: field "instruction": expected string')
    })
    const store = storeWith(client)
    expect(await store.importSet('/d/bad.jsonl')).toBe(false)
    expect(store.importError).toContain('bad.jsonl:2: field "instruction"')
  })

  it('lists the ready-made sets and selects one once it is imported', async () => {
    const shipped = { id: 'pandalm-inference', name: 'PandaLM inference set', description: '170 instructions', itemCount: 170, withReferences: 0 }
    const imported: EvalSetSummary = { ...set, id: 's9', name: shipped.name, format: 'pandalm', itemCount: 170, withReferences: 0 }
    const client = new FakeClient()
      .handle('evaluations.readyMadeSets', () => ({ sets: [shipped] }))
      .handle('evaluations.importReadyMadeSet', () => ({ set: imported }))
      .handle('evaluations.sets', () => ({ sets: [imported] }))
      .handle('evaluations.results', ({ setId }) => results(setId))
    const store = storeWith(client)
    await store.loadReadyMade()
    expect(store.readyMade).toEqual([shipped])
    expect(await store.importReadyMade('pandalm-inference')).toBe(true)
    expect(client.calls.find((c) => c.method === 'evaluations.importReadyMadeSet')?.params).toEqual({ id: 'pandalm-inference' })
    expect(store.selectedSet).toEqual(imported)
  })

  it('deletes the chosen set and lists what is left', async () => {
    let stored = [set, noRefs]
    const client = new FakeClient()
      .handle('evaluations.sets', () => ({ sets: stored }))
      .handle('evaluations.results', ({ setId }) => results(setId))
      .handle('evaluations.removeSet', ({ setId }) => {
        stored = stored.filter((x) => x.id !== setId)
        return {}
      })
    const store = storeWith(client)
    await store.loadSets()
    await store.selectSet('s1')
    expect(await store.removeSet('s1')).toBe(true)
    expect(store.selectedSetId).toBeNull()
    expect(store.sets.map((x) => x.id)).toEqual(['s2'])
  })
})
