import { describe, expect, it } from 'vitest'
import type { DatasetPreview, ModelFolderShape, RunEstimate } from '../../../src-main/api/contract'
import { adapterDefaults, adapterMethods } from '../../../src-main/api/tuning-defaults'
import { useTuneWizardStore } from '../../../src-renderer/src/stores/tune-wizard'
import { deferred, FakeClient, piniaWith } from './fake-client'

const model: ModelFolderShape = {
  path: '/models/base', name: 'base', architecture: 'llama', numLayers: 6, hiddenSize: 64, numHeads: 4, vocabSize: 100, parameters: 1000,
  hasTokenizer: true, hasChatTemplate: false, exits: [1, 2, 3, 4, 5, 6], precisions: [],
}

const preview = (seqLen: number, errorCount = 0): DatasetPreview => ({
  dataPath: '/data/d.jsonl', format: 'alpaca-jsonl', template: 'alpaca', seqLen, records: [], errors: [], errorCount, fatal: null, warnings: [],
  stats: { records: 10, tokens: 100, meanTokens: 10, maxTokens: 12, trainedTokens: 40, truncated: 0, dropped: 0, skipped: errorCount },
})

function storeWith(client: FakeClient) {
  piniaWith(client)
  return useTuneWizardStore()
}

describe('tuning wizard store', () => {
  it('offers every layer as an exit, and builds the request the form shows', async () => {
    const client = new FakeClient().handle('models.inspect', () => model).handle('datasets.preview', (p) => preview(p.seqLen ?? 512))
    const wizard = storeWith(client)
    wizard.modelPath = '/models/base'
    await wizard.inspectModel()
    expect(wizard.exits).toEqual([1, 2, 3, 4, 5, 6])
    wizard.dataPath = '/data/d.jsonl'
    wizard.hyper.seqLen = 128
    await wizard.loadPreview()
    wizard.exits = [2, 4, 6]
    wizard.duration.kind = 'steps'
    wizard.duration.maxSteps = 30
    wizard.outDir = '/out'
    expect(wizard.request()).toMatchObject({ modelPath: '/models/base', dataPath: '/data/d.jsonl', outDir: '/out', mode: 'soft', exits: '2,4,6', maxSteps: 30, seqLen: 128, onError: 'stop' })
    expect(wizard.request()).not.toHaveProperty('epochs')
    wizard.mode = 'sft'
    expect(wizard.request().exits).toBe('6')
  })

  it('lets a dataset with bad records through only when they are to be skipped', async () => {
    const client = new FakeClient().handle('models.inspect', () => model).handle('datasets.preview', () => preview(512, 2))
    const wizard = storeWith(client)
    await wizard.inspectModel()
    wizard.dataPath = '/data/d.jsonl'
    await wizard.loadPreview()
    expect(wizard.datasetUsable).toBe(false)
    wizard.skipBadRecords = true
    expect(wizard.datasetUsable).toBe(true)
    expect(wizard.request().onError).toBe('skip')
  })

  it('drops a preview answer that arrives after a newer question', async () => {
    const slow = deferred<DatasetPreview>()
    const client = new FakeClient().handle('models.inspect', () => model).handle('datasets.preview', (p) => (p.seqLen === 64 ? slow.promise : preview(p.seqLen ?? 512)))
    const wizard = storeWith(client)
    await wizard.inspectModel()
    wizard.dataPath = '/data/d.jsonl'
    wizard.hyper.seqLen = 64
    const first = wizard.loadPreview()
    wizard.hyper.seqLen = 256
    await wizard.loadPreview()
    slow.resolve(preview(64))
    await first
    expect(wizard.preview?.seqLen).toBe(256)
  })

  it('uploads a chosen dataset file and answers with its stored path, refusing one too large to send', async () => {
    const client = new FakeClient().handle('datasets.upload', (p) => ({ path: `/data/uploads/${p.name}` }))
    const wizard = storeWith(client)
    const file = (name: string, size: number) => ({ name, size, text: async () => '{"instruction":"hi","output":"yo"}' })
    expect(await wizard.uploadDataset(file('d.jsonl', 40))).toBe('/data/uploads/d.jsonl')
    expect(wizard.uploadError).toBeNull()

    expect(await wizard.uploadDataset(file('big.jsonl', 50 * 1024 * 1024))).toBeNull()
    expect(wizard.uploadError).toMatch(/^big\.jsonl is .*; uploads are limited to .* Type the file's path instead/)
    expect(client.calls.filter((c) => c.method === 'datasets.upload')).toHaveLength(1)
  })
})

describe('the memory plan in the wizard', () => {
  const estimate = (fits: boolean): RunEstimate => ({
    steps: 10, tokensPerStep: 512, seconds: 60, memoryBytes: 30 * 1024 ** 3, trainRecords: 9, validationRecords: 1, parameters: 1000,
    memory: {
      peakBytes: 30 * 1024 ** 3, availableBytes: 24 * 1024 ** 3, recompute: false, fits, trainableParameters: 1000,
      ...(fits ? {} : { proposal: 'batchSize 2 fits (gradAccum keeps the effective batch).' }),
      breakdown: { weightBytes: 1, trainingStateBytes: 1, activationBytes: 1, arenaBytes: 1, runtimeBytes: 1 },
    },
    breakdown: { trainFlops: 1, validationFlops: 0, flopsPerSecond: 1, parameterBytes: 1, gradientBytes: 1, optimizerBytes: 1, activationBytes: 1, attentionBytes: 1, logitBytes: 1 },
  })

  it('refuses to start a plan over the machine\'s memory, saying what fits, and starts one that fits', async () => {
    const wizard = storeWith(new FakeClient())
    const started: string[] = []
    const startRun = async (request: { outDir: string }) => {
      started.push(request.outDir)
      return 'run-1'
    }
    wizard.outDir = '/out'
    wizard.estimate = estimate(false)
    expect(await wizard.start(startRun)).toBeNull()
    expect(started).toEqual([])
    expect(wizard.startError).toBe("This plan needs about 30.0 GiB at its peak, more than this machine's 24.0 GiB. batchSize 2 fits (gradAccum keeps the effective batch).")
    wizard.estimate = estimate(true)
    expect(wizard.memoryRefusal).toBeNull()
    expect(await wizard.start(startRun)).toBe('run-1')
    expect(started).toEqual(['/out'])
  })

  it('offers full tuning and every adapter method of the contract, and builds an adapter request from the method step', async () => {
    const client = new FakeClient().handle('models.inspect', () => model).handle('datasets.preview', (p) => preview(p.seqLen ?? 512))
    const wizard = storeWith(client)
    await wizard.inspectModel()
    expect(wizard.methods.map((m) => m.id)).toEqual(['full', ...adapterMethods])
    expect(wizard.request()).not.toHaveProperty('adapter')
    wizard.method = 'dylora'
    expect(wizard.request()).toMatchObject({ adapter: 'dylora', loraRank: adapterDefaults.rank, loraAlpha: adapterDefaults.alpha, loraTargets: 'q,k,v,o,gate,up,down', trainNorm: false })
    wizard.lora.rank = 4
    wizard.lora.alpha = 8
    wizard.lora.targets = ['q', 'v']
    wizard.lora.trainNorm = true
    expect(wizard.request()).toMatchObject({ adapter: 'dylora', loraRank: 4, loraAlpha: 8, loraTargets: 'q,v', trainNorm: true })
    wizard.method = 'full'
    expect(wizard.request()).not.toHaveProperty('loraRank')
  })

  it('asks for activation recomputation as chosen: automatic unless set', async () => {
    const client = new FakeClient().handle('models.inspect', () => model).handle('datasets.preview', (p) => preview(p.seqLen ?? 512))
    const wizard = storeWith(client)
    await wizard.inspectModel()
    expect(wizard.request().recompute).toBe('auto')
    wizard.recompute = 'on'
    expect(wizard.request().recompute).toBe('on')
    wizard.recompute = 'off'
    expect(wizard.request().recompute).toBe('off')
  })

  it('asks the planner for the chosen method, and refuses an adapter plan with no target layer before starting', async () => {
    const asked: unknown[] = []
    const client = new FakeClient()
      .handle('models.inspect', () => model)
      .handle('datasets.preview', (p) => preview(p.seqLen ?? 512))
      .handle('runs.estimate', (r) => {
        asked.push(r.adapter ?? 'full')
        return estimate(true)
      })
    const wizard = storeWith(client)
    await wizard.inspectModel()
    wizard.dataPath = '/data/d.jsonl'
    await wizard.loadPreview()
    wizard.outDir = '/out'
    wizard.method = 'lora'
    await wizard.refreshEstimate()
    wizard.method = 'full'
    await wizard.refreshEstimate()
    expect(asked).toEqual(['lora', 'full'])
    expect(wizard.estimateMethod).toBe('full')
    wizard.method = 'lora'
    wizard.lora.targets = []
    expect(wizard.methodProblem).toBe('Choose at least one layer for the adapter.')
    expect(await wizard.start(async () => 'run-1')).toBeNull()
    expect(wizard.startError).toBe('Choose at least one layer for the adapter.')
  })
})

