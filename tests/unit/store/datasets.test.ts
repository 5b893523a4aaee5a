import { describe, expect, it } from 'vitest'
import { addModel, manualClock, memoryStore } from './helpers'

const alpaca = { name: 'Alpaca 52k', format: 'alpaca-json', path: '/data/alpaca.json', recordCount: 52_002 }

describe('DatasetsRepository', () => {
  it('returns what was added; the token count stays unknown until counted', () => {
    const clock = manualClock()
    const store = memoryStore({ now: clock.now })

    const dataset = store.datasets.add(alpaca)

    expect(dataset).toMatchObject({ ...alpaca, tokenCount: null, createdAt: clock.now() })
    expect(store.datasets.get(dataset.id)).toEqual(dataset)
  })

  it('lists datasets newest first', () => {
    const clock = manualClock()
    const store = memoryStore({ now: clock.now })
    store.datasets.add({ ...alpaca, name: 'older' })
    clock.advance()
    store.datasets.add({ ...alpaca, name: 'newer', tokenCount: 1000 })

    expect(store.datasets.list().map((d) => d.name)).toEqual(['newer', 'older'])
  })

  it('refuses a negative record count', () => {
    const store = memoryStore()

    expect(() => store.datasets.add({ ...alpaca, recordCount: -1 })).toThrow(/CHECK constraint/)
  })

  it('removes a dataset while runs trained on it keep their history', () => {
    const store = memoryStore()
    const dataset = store.datasets.add(alpaca)
    const run = store.runs.create({ modelId: addModel(store).id, datasetId: dataset.id, mode: 'soft', config: {}, totalSteps: 5 })

    expect(store.datasets.remove(dataset.id)).toBe(true)
    expect(store.datasets.get(dataset.id)).toBeUndefined()
    expect(store.runs.get(run.id)?.datasetId).toBeNull()
  })
})
