import { describe, expect, it } from 'vitest'
import type { DraftCalibration, ModelFolderShape, ModelSummary } from '../../../src-main/api/contract'
import { ClientError } from '../../../src-renderer/src/api/client'
import { useModelCatalog } from '../../../src-renderer/src/composables/model-catalog'
import { useModelsStore } from '../../../src-renderer/src/stores/models'
import { deferred, FakeClient, piniaWith } from './fake-client'

const folder: ModelFolderShape = {
  path: '/models/tiny', name: 'tiny', architecture: 'llama', numLayers: 3, hiddenSize: 64, numHeads: 4, vocabSize: 100, parameters: 1000,
  hasTokenizer: true, hasChatTemplate: false, exits: [1, 2, 3], precisions: [],
}
const summary: ModelSummary = {
  id: 'm', name: 'tiny', path: '/models/tiny', source: 'imported', architecture: 'llama', numLayers: 3, exits: [], results: {}, sizeBytes: 10,
  precision: 'fp32', precisions: [], createdAt: 1,
}
const refused = (message: string) => () => {
  throw new ClientError({ code: 'invalid_params', message })
}

describe('models store', () => {
  it('keeps why a removal or an export failed, in one line, instead of throwing at the page', async () => {
    const client = new FakeClient().handle('models.remove', refused('Model m is bundled.')).handle('models.export', refused('to: /x already exists.'))
    piniaWith(client)
    const store = useModelsStore()
    expect(await store.remove('m')).toBe(false)
    expect(store.actionError).toBe('Model m is bundled.')
    expect(await store.exportTo('m', '/x')).toBeNull()
    expect(store.actionError).toBe('to: /x already exists.')

    client.handle('models.export', () => ({ path: '/y' }))
    expect(await store.exportTo('m', '/y')).toBe('/y')
    expect(store.actionError).toBeNull()
  })

  it('reads a folder once for two pickers asking at the same time, and says why a folder is not a model', async () => {
    const answer = deferred<ModelFolderShape>()
    const client = new FakeClient().handle('models.list', () => ({ models: [] })).handle('models.inspect', () => answer.promise)
    piniaWith(client)
    const catalog = useModelCatalog()
    const both = Promise.all([catalog.describe('/models/tiny'), catalog.describe('/models/tiny')])
    answer.resolve(folder)
    const [first, second] = await both
    expect(first.model).toEqual({ path: '/models/tiny', name: 'tiny', numLayers: 3, exits: [1, 2, 3] })
    expect(second).toEqual(first)
    expect(client.calls.filter((c) => c.method === 'models.inspect')).toHaveLength(1)
    // A folder read is offered to every picker from then on.
    expect(catalog.suggestions.value.map((m) => m.path)).toEqual(['/models/tiny'])

    client.handle('models.inspect', refused('/nope: config.json is missing.'))
    expect(await catalog.describe('/nope')).toEqual({ model: null, error: '/nope: config.json is missing.' })
  })

  it('records a model\'s chosen precision in the list it shows, and says why a choice was refused', async () => {
    const client = new FakeClient()
      .handle('models.list', () => ({ models: [summary] }))
      .handle('models.setPrecision', (params) => ({ model: { ...summary, precision: (params as { precision: 'int8' }).precision } }))
    piniaWith(client)
    const store = useModelsStore()
    await store.load()

    expect(await store.setPrecision('m', 'int8')).toBe(true)
    expect(store.byId('m')?.precision).toBe('int8')
    expect(client.calls.find((c) => c.method === 'models.setPrecision')?.params).toEqual({ modelId: 'm', precision: 'int8' })

    client.handle('models.setPrecision', refused('No model m in the library.'))
    expect(await store.setPrecision('m', 'int4')).toBe(false)
    expect(store.actionError).toBe('No model m in the library.')
  })

  it('imports in the chosen precision', async () => {
    const client = new FakeClient().handle('models.list', () => ({ models: [] })).handle('models.import', () => ({ model: { ...summary, precision: 'int4' } }))
    piniaWith(client)
    await useModelsStore().importFolder('/models/tiny', 'int4')
    expect(client.calls.find((c) => c.method === 'models.import')?.params).toEqual({ path: '/models/tiny', precision: 'int4' })
  })

  it('shows a calibration\'s progress while it runs, then the exit it chose, or why it failed', async () => {
    const answer = deferred<{ calibration: DraftCalibration; written: string }>()
    const client = new FakeClient().handle('models.calibrate', () => answer.promise)
    piniaWith(client)
    const store = useModelsStore()
    const running = store.calibrate('m')
    expect(store.calibrations['m']).toMatchObject({ running: true, progress: 0, error: null, calibration: null })
    client.emit('models.calibrationProgress', { modelId: 'm', progress: 0.4, message: 'try 2/3: exit 1, prompt 1/6' })
    client.emit('models.calibrationProgress', { modelId: 'other', progress: 0.9, message: 'not this one' })
    expect(store.calibrations['m']).toMatchObject({ running: true, progress: 0.4, message: 'try 2/3: exit 1, prompt 1/6' })
    const calibration: DraftCalibration = {
      fullDepthTokensPerS: 400, decodedTokens: 90, chosenExit: 2, beatsFullDepth: true, prompts: 6, maxNewTokens: 32, tries: 3,
      exits: [{ exit: 2, tokensPerS: 420, speedup: 1.05, acceptanceRate: 0.6, drafted: 50, accepted: 30, matchesFullDepth: true }],
    }
    answer.resolve({ calibration, written: '/models/tiny/sorted.json' })
    expect(await running).toEqual(calibration)
    expect(store.calibrations['m']).toMatchObject({ running: false, progress: 1, error: null, calibration })
    expect(client.calls.find((c) => c.method === 'models.calibrate')?.params).toEqual({ modelId: 'm' })

    client.handle('models.calibrate', refused('"tiny" ships with the app.'))
    expect(await store.calibrate('m')).toBeNull()
    expect(store.calibrations['m']).toMatchObject({ running: false, error: '"tiny" ships with the app.', calibration: null })
  })

  it('lists adapters under their base, merges one with its progress, and keeps why an adapter import was refused', async () => {
    const adapter: ModelSummary = {
      ...summary, id: 'a', name: 'my-adapter', path: '/adapters/a', source: 'trained',
      adapter: { baseModelId: 'm', basePath: '/models/tiny', kind: 'lora', rank: 4, alpha: 8, targets: ['q_proj'], trainNorm: false },
    }
    const merged: ModelSummary = { ...summary, id: 'merged', name: 'merged', path: '/out/merged' }
    const answer = deferred<{ model: ModelSummary }>()
    const client = new FakeClient()
      .handle('models.list', () => ({ models: [summary, adapter] }))
      .handle('models.mergeAdapter', () => answer.promise)
      .handle('models.importAdapter', refused('/x/adapter_model.safetensors: tensor "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight" has shape [4, 32], the base model and r 4 need [4, 64]'))
    piniaWith(client)
    const store = useModelsStore()
    await store.load()
    expect(store.adaptersOf('m').map((m) => m.id)).toEqual(['a'])

    const merging = store.mergeAdapter('a', '/out/merged')
    client.emit('models.importProgress', { path: '/out/merged', progress: 0.5, message: 'Merging the adapter into the weights' })
    expect(store.merges.a).toMatchObject({ running: true, progress: 0.5, message: 'Merging the adapter into the weights' })
    answer.resolve({ model: merged })
    expect(await merging).toEqual(merged)
    expect(store.merges.a).toMatchObject({ running: false, progress: 1, error: null })
    expect(client.calls.find((c) => c.method === 'models.mergeAdapter')?.params).toEqual({ modelId: 'a', to: '/out/merged' })
    client.handle('models.mergeAdapter', () => ({ model: merged }))
    await store.mergeAdapter('a', '/out/merged-2', 2)
    expect(client.calls.filter((c) => c.method === 'models.mergeAdapter').at(-1)?.params).toEqual({ modelId: 'a', to: '/out/merged-2', rank: 2 })

    expect(await store.importAdapter('/x', 'm')).toBeNull()
    expect(store.importing?.error).toContain('/x/adapter_model.safetensors: tensor')
  })
})

