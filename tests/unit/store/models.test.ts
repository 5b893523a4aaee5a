import { describe, expect, it } from 'vitest'
import Database from 'better-sqlite3'
import { NotFoundError, migrate, migrations } from '../../../src-main/store'
import { addModel, manualClock, memoryStore, open, tempDbPath } from './helpers'

describe('ModelsRepository', () => {
  it('returns what was added, with parsed JSON and timestamps', () => {
    const clock = manualClock()
    const store = memoryStore({ now: clock.now })

    const model = addModel(store, { config: { hidden_size: 64 }, results: { '4': { winRate: 0.4 } } })

    expect(model).toMatchObject({
      name: 'Tiny Llama',
      architecture: 'llama',
      source: 'imported',
      numLayers: 8,
      exits: [2, 4, 8],
      config: { hidden_size: 64 },
      results: { '4': { winRate: 0.4 } },
      createdAt: clock.now(),
    })
    expect(store.models.get(model.id)).toEqual(model)
  })

  it('records an adapter under its base model, and removes it with its base', () => {
    const store = memoryStore()
    const base = addModel(store, { name: 'base' })
    const settings = { kind: 'lora' as const, rank: 8, alpha: 16, targets: ['q_proj', 'v_proj'], trainNorm: false }
    const adapter = addModel(store, { name: 'my-adapter', path: '/adapters/mine', baseModelId: base.id, adapter: settings })
    expect(store.models.get(adapter.id)).toMatchObject({ baseModelId: base.id, adapter: settings })
    expect(store.models.get(base.id)).toMatchObject({ baseModelId: null, adapter: null })
    store.models.remove(base.id)
    expect(store.models.get(adapter.id)).toBeUndefined()
  })

  it('refuses an adapter whose base model is not in the library', () => {
    const store = memoryStore()
    const settings = { kind: 'lora' as const, rank: 8, alpha: 16, targets: ['q_proj'], trainNorm: false }
    expect(() => addModel(store, { path: '/adapters/orphan', baseModelId: 'nope', adapter: settings })).toThrow(/FOREIGN KEY/)
  })

  it('keeps a stable id when one is given', () => {
    const store = memoryStore()

    addModel(store, { id: 'bundled-tiny', source: 'bundled' })

    expect(store.models.get('bundled-tiny')?.source).toBe('bundled')
  })

  it('lists models oldest first', () => {
    const clock = manualClock()
    const store = memoryStore({ now: clock.now })
    addModel(store, { name: 'first' })
    clock.advance()
    addModel(store, { name: 'second' })

    expect(store.models.list().map((m) => m.name)).toEqual(['first', 'second'])
  })

  it('stores exits ascending without repeats', () => {
    const store = memoryStore()

    expect(addModel(store, { exits: [8, 2, 4, 2] }).exits).toEqual([2, 4, 8])
  })

  it('refuses an exit deeper than the model', () => {
    const store = memoryStore()

    expect(() => addModel(store, { numLayers: 8, exits: [4, 9] })).toThrow('Exit 9 is not a layer count between 1 and 8')
    expect(store.models.list()).toEqual([])
  })

  it('refuses a source outside bundled, imported, trained', () => {
    const store = memoryStore()

    expect(() => addModel(store, { source: 'downloaded' as never })).toThrow(/CHECK constraint/)
  })

  it('updates exits and moves updatedAt', () => {
    const clock = manualClock()
    const store = memoryStore({ now: clock.now })
    const model = addModel(store)
    const later = clock.advance()

    const updated = store.models.updateExits(model.id, [3, 6])

    expect(updated.exits).toEqual([3, 6])
    expect(updated.updatedAt).toBe(later)
    expect(store.models.get(model.id)?.exits).toEqual([3, 6])
  })

  it('updates per-exit results', () => {
    const store = memoryStore()
    const model = addModel(store)

    store.models.updateResults(model.id, { '2': { tokensPerSecond: 120 }, '8': { tokensPerSecond: 40 } })

    expect(store.models.get(model.id)?.results).toEqual({ '2': { tokensPerSecond: 120 }, '8': { tokensPerSecond: 40 } })
  })

  it('reports updating a model that does not exist', () => {
    const store = memoryStore()

    expect(() => store.models.updateExits('gone', [1])).toThrow(NotFoundError)
    expect(() => store.models.updateResults('gone', {})).toThrow(NotFoundError)
  })

  it('removes a model and says whether it existed', () => {
    const store = memoryStore()
    const model = addModel(store)

    expect(store.models.remove(model.id)).toBe(true)
    expect(store.models.get(model.id)).toBeUndefined()
    expect(store.models.remove(model.id)).toBe(false)
  })

  it('deletes the runs of a removed model and detaches its chats', () => {
    const store = memoryStore()
    const model = addModel(store)
    const run = store.runs.create({ modelId: model.id, mode: 'soft', config: {}, totalSteps: 10 })
    const chat = store.chats.create({ title: 'hello', modelId: model.id })

    store.models.remove(model.id)

    expect(store.runs.get(run.id)).toBeUndefined()
    expect(store.chats.get(chat.id)?.modelId).toBeNull()
  })

  describe('precision', () => {
    it('is fp32 until chosen, then kept; a bundled model shipped again keeps the choice', () => {
      const store = memoryStore()
      const model = addModel(store, { id: 'bundled:tiny', source: 'bundled' })
      expect(model.precision).toBe('fp32')

      expect(store.models.updatePrecision(model.id, 'int8').precision).toBe('int8')
      store.models.put({ id: 'bundled:tiny', name: 'Tiny Llama', architecture: 'llama', path: '/models/tiny', source: 'bundled', numLayers: 8 })

      expect(store.models.get(model.id)?.precision).toBe('int8')
    })

    it('refuses a precision the engine does not have, and a model that does not exist', () => {
      const store = memoryStore()
      const model = addModel(store)

      expect(() => store.models.updatePrecision(model.id, 'int3' as never)).toThrow(/CHECK/)
      expect(() => store.models.updatePrecision('gone', 'int4')).toThrow(NotFoundError)
    })

    it('a database from before precisions gains the column: its models are fp32', () => {
      const path = tempDbPath()
      const older = new Database(path)
      // Every migration before the one that added precisions (later ones build on it).
      const precisions = migrations.find((m) => m.name === 'model precision')!.version
      migrate(older, migrations.filter((m) => m.version < precisions), path)
      older
        .prepare("INSERT INTO models (id, name, architecture, path, source, num_layers, created_at, updated_at) VALUES ('m', 'old', 'llama', '/models/old', 'imported', 2, 1, 1)")
        .run()
      older.close()

      const newer = open(path)

      expect(newer.models.list().map((m) => [m.name, m.precision])).toEqual([['old', 'fp32']])
    })

    it('a database from before adapters gains the columns: its models are models, not adapters', () => {
      const path = tempDbPath()
      const older = new Database(path)
      const adapters = migrations.find((m) => m.name === 'model adapters')!.version
      migrate(older, migrations.filter((m) => m.version < adapters), path)
      older
        .prepare("INSERT INTO models (id, name, architecture, path, source, num_layers, created_at, updated_at) VALUES ('m', 'old', 'llama', '/models/old', 'imported', 2, 1, 1)")
        .run()
      older.close()

      const newer = open(path)

      expect(newer.models.list().map((m) => [m.name, m.baseModelId, m.adapter])).toEqual([['old', null, null]])
    })
  })
})
