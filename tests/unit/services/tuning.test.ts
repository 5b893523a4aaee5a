import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tuningDefaults, type DatasetPreview, type ModelSummary, type RunDetails, type RunEstimate } from '../../../src-main/api/contract'
import { openBackend, type Backend } from '../../../src-main/services/backend'
import { maxUploadBytes } from '../../../src-main/services/datasets'
import { acquireRunLock } from '../../../src-main/engine/train/run-lock'
import { checkpointDirOf } from '../../../src-main/engine/train/tune-job'
import { loadModelFolder } from '../../../src-main/engine/model/import'
import { parseExits } from '../../../src-main/engine/train/exits'
import { planStep } from '../../../src-main/engine/train/run-plan'
import { openStore } from '../../../src-main/store'
import { writeTinyTextModel } from '../../fixtures/fixtures'
import { sourceWorker } from '../../fixtures/workers'
import { callBackend } from '../../fixtures/backend'

const root = mkdtempSync(join(tmpdir(), 'tuning-service-'))
const modelDir = join(root, 'model')
const data = join(root, 'data.jsonl')
const dataDir = join(root, 'data')
let backend: Backend

function open(): Backend {
  return openBackend({ transport: 'browser', dataDir, log: () => {}, trainingWorker: sourceWorker('training-worker'), datasetWorker: sourceWorker('dataset-worker') })
}

beforeAll(() => {
  writeTinyTextModel(modelDir, { seed: 8 })
  const lines = Array.from({ length: 18 }, (_, i) => JSON.stringify({ instruction: `count to ${i}`, output: Array.from({ length: 4 }, (_, k) => i + k).join(' ') }))
  writeFileSync(data, `${lines.join('\n')}\n`)
  backend = open()
})

afterAll(async () => {
  await backend.close()
  rmSync(root, { recursive: true, force: true })
})

const call = <T>(method: string, params: unknown = {}) => callBackend<T>(backend, method, params)

function untilStatus(runId: string, status: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const stop = backend.subscribe((event, payload) => {
      const p = payload as { runId: string; status: string; error?: string }
      if (event !== 'run.status' || p.runId !== runId) return
      if (p.status === status) {
        stop()
        resolve()
      } else if (p.status === 'failed') {
        stop()
        reject(new Error(`run failed: ${p.error}`))
      }
    })
  })
}

const request = (out: string, extra: Record<string, unknown> = {}) => ({
  modelPath: modelDir, dataPath: data, outDir: join(root, out), mode: 'soft', batchSize: 4, seqLen: 32, lr: 1e-3, checkpointEvery: 1, valSplit: 0.25, seed: 5, ...extra,
})

describe('tuning services over the contract', { timeout: 60_000 }, () => {
  it('inspects a model folder without loading it, and names the field of one that is not', async () => {
    const model = await call<Record<string, unknown>>('models.inspect', { path: modelDir })
    expect(model).toMatchObject({ path: modelDir, name: 'model', architecture: 'LlamaForCausalLM', numLayers: 3, hiddenSize: 16, hasTokenizer: true, hasChatTemplate: false, exits: [1, 2, 3] })
    const failed = await backend.dispatch('models.inspect', { path: root })
    expect(failed).toMatchObject({ ok: false, error: { code: 'invalid_params', issues: [{ path: 'path' }] } })
  })

  it('previews a dataset in a worker: records as trained, statistics, and every bad line with its field', async () => {
    const bad = join(root, 'bad.jsonl')
    writeFileSync(bad, `${readFileSync(data, 'utf8')}{"instruction": "x", "output": 5}\nnot json\n`)
    const preview = await call<DatasetPreview>('datasets.preview', { modelPath: modelDir, dataPath: bad, seqLen: 32, limit: 2 })
    expect(preview.records).toHaveLength(2)
    expect(preview.records[0]!.segments.some((s) => s.trained)).toBe(true)
    expect(preview.records[0]!.segments.some((s) => !s.trained)).toBe(true)
    expect(preview.stats).toMatchObject({ records: 18, skipped: 2 })
    expect(preview.errors.map((e) => [e.line, e.field])).toEqual([[19, 'output'], [20, null]])
    const again = await call<DatasetPreview>('datasets.preview', { modelPath: modelDir, dataPath: bad, seqLen: 32, limit: 1 })
    expect(again.records).toEqual(preview.records.slice(0, 1))
    expect(await backend.dispatch('datasets.preview', { modelPath: join(root, 'nowhere'), dataPath: bad })).toMatchObject({
      ok: false,
      error: { code: 'invalid_params', issues: [{ path: 'modelPath' }] },
    })
  })

  it('estimates the very number of steps the run then takes', async () => {
    const tune = request('out-estimate', { epochs: 2, batchSize: 3, gradAccum: 2 })
    const estimate = await call<RunEstimate>('runs.estimate', tune)
    // 18 records, a quarter held out: 13 train + 5 validation; 5 micro-batches an epoch, 2 per step, 2 epochs.
    expect(estimate).toMatchObject({ steps: 5, trainRecords: 13, validationRecords: 5, tokensPerStep: 3 * 32 * 2 })
    expect(estimate.seconds).toBeGreaterThan(0)
    expect(estimate.memoryBytes).toBeGreaterThan(16 * estimate.parameters)
    const { runId } = await call<{ runId: string }>('runs.start', tune)
    await untilStatus(runId, 'completed')
    const { run } = await call<RunDetails>('runs.get', { runId })
    expect(run.totalSteps).toBe(estimate.steps)
    expect(await backend.dispatch('runs.estimate', { ...tune, exits: '7' })).toMatchObject({ ok: false, error: { issues: [{ path: 'exits' }] } })
  })

  it('estimates memory with the planner `sorted tune --dry-run` uses, and says what fits when the plan does not', async () => {
    const tune = request('out-planned', { batchSize: 3 })
    const estimate = await call<RunEstimate>('runs.estimate', tune)
    const config = loadModelFolder(modelDir).config
    const step = { mode: 'soft' as const, exits: parseExits(tuningDefaults.exits, config.numLayers), batchSize: 3, seqLen: tune.seqLen }
    expect(estimate.memoryBytes).toBe(planStep(config, step).memory.peakBytes)
    expect(estimate.memory).toMatchObject({ peakBytes: estimate.memoryBytes, availableBytes: totalmem(), fits: true, trainableParameters: estimate.parameters })
    const lora = await call<RunEstimate>('runs.estimate', { ...tune, adapter: 'lora', loraRank: 2 })
    expect(lora.memory.trainableParameters).toBeLessThan(estimate.parameters)
    const qlora = await call<RunEstimate>('runs.estimate', { ...tune, adapter: 'qlora', blockSize: 32, loraRank: 2 })
    expect(qlora.memory.trainableParameters).toBe(lora.memory.trainableParameters)
    expect(qlora.memoryBytes).toBe(planStep(config, { ...step, adapter: { kind: 'lora', rank: 2, alpha: 32, targets: ['q', 'k', 'v', 'o', 'gate', 'up', 'down'], trainNorm: false, quantizedBase: { bits: 4, blockSize: 32 } } }).memory.peakBytes)
    expect(await backend.dispatch('runs.estimate', { ...tune, adapter: 'qlora', blockSize: 48 })).toMatchObject({ ok: false, error: { issues: [{ path: 'blockSize' }] } })
    const huge = await call<RunEstimate>('runs.estimate', { ...tune, batchSize: 1_000_000 })
    expect(huge.memory.fits).toBe(false)
    expect(huge.memory.proposal).toMatch(/^batchSize \d+ fits \(gradAccum keeps the effective batch\)\.$/)
    // An adapter plan is held to the same budget, with its own proposal.
    const hugeLora = await call<RunEstimate>('runs.estimate', { ...tune, adapter: 'lora', loraRank: 2, batchSize: 1_000_000 })
    expect(hugeLora.memory.fits).toBe(false)
    expect(hugeLora.memory.trainableParameters).toBe(lora.memory.trainableParameters)
    expect(hugeLora.memory.proposal).toMatch(/^batchSize \d+ fits/)
    // Recomputation: asked for, or (auto) because the step would not fit without it.
    expect(estimate.memory.recompute).toBe(false)
    const recomputed = await call<RunEstimate>('runs.estimate', { ...tune, recompute: 'on' })
    expect(recomputed.memory.recompute).toBe(true)
    expect(recomputed.memoryBytes).toBe(planStep(config, { ...step, recompute: true }).memory.peakBytes)
    expect(recomputed.memory.breakdown.activationBytes).toBeLessThan(estimate.memory.breakdown.activationBytes)
    expect(huge.memory.recompute).toBe(true)
    expect((await call<RunEstimate>('runs.estimate', { ...tune, batchSize: 1_000_000, recompute: 'off' })).memory.recompute).toBe(false)
  })

  it('details a completed run (curves, checkpoints, output) and registers the tuned model with its exits', async () => {
    const validations: unknown[] = []
    const checkpoints: unknown[] = []
    let libraryChanges = 0
    const stop = backend.subscribe((event, payload) => {
      if (event === 'run.validation') validations.push(payload)
      if (event === 'run.checkpoint') checkpoints.push(payload)
      if (event === 'models.changed') libraryChanges++
    })
    const { runId } = await call<{ runId: string }>('runs.start', request('out-details', { maxSteps: 4, evalEvery: 2 }))
    await untilStatus(runId, 'completed')
    stop()
    const details = await call<RunDetails>('runs.get', { runId })
    expect(details.run).toMatchObject({ status: 'completed', stepsDone: 4, lastStep: 4 })
    expect(details.outputPath).toBe(join(root, 'out-details'))
    expect(details.checkpoints.map((c) => [c.step, c.onDisk])).toEqual([[1, false], [2, false], [3, true], [4, true]])
    expect(details.metrics.filter((m) => m.split === 'validation' && m.exit === 3).map((m) => m.step)).toEqual([2, 4])
    expect(validations).toEqual([
      expect.objectContaining({ runId, step: 2, loss: expect.any(Object), perplexity: expect.any(Object) }),
      expect.objectContaining({ runId, step: 4 }),
    ])
    expect(checkpoints).toHaveLength(4)
    expect(libraryChanges).toBe(1)
    const store = openStore(join(dataDir, 'sorted.db'))
    const model = store.models.get(details.run.outputModelId!)
    store.close()
    expect(model).toMatchObject({ source: 'trained', path: details.outputPath, exits: [1, 2, 3] })
    expect(Object.keys(model!.results)).toEqual(['1', '2', '3'])
  })

  it('refuses an output folder that is not empty, naming the field', async () => {
    const used = join(root, 'used')
    mkdirSync(used)
    writeFileSync(join(used, 'x'), '')
    expect(await backend.dispatch('runs.start', request('used', { maxSteps: 1 }))).toMatchObject({ ok: false, error: { issues: [{ path: 'outDir' }] } })
  })

  it('an adapter run ends with its PEFT folder listed under the model it was trained on', async () => {
    const { runId } = await call<{ runId: string }>('runs.start', request('out-adapter', { maxSteps: 2, adapter: 'lora', loraRank: 2, loraTargets: 'q,v' }))
    await untilStatus(runId, 'completed')
    const { run, outputPath } = await call<RunDetails>('runs.get', { runId })
    expect(existsSync(join(outputPath!, 'adapter_config.json'))).toBe(true)
    const { models } = await call<{ models: ModelSummary[] }>('models.list')
    const adapter = models.find((m) => m.id === run.outputModelId)
    expect(adapter).toMatchObject({ path: outputPath, source: 'trained', adapter: { baseModelId: run.modelId, basePath: modelDir, kind: 'lora', rank: 2, targets: ['q_proj', 'v_proj'], trainNorm: false } })
  })

  it('removes a run with its checkpoints, keeping its model unless asked, and never while it runs', async () => {
    const { runId } = await call<{ runId: string }>('runs.start', request('out-remove', { maxSteps: 3 }))
    await expect(call('runs.remove', { runId })).rejects.toThrow('conflict')
    await untilStatus(runId, 'completed')
    const { run, outputPath } = await call<RunDetails>('runs.get', { runId })
    const { removedPaths } = await call<{ removedPaths: string[] }>('runs.remove', { runId })
    expect(removedPaths).toEqual([`${outputPath}.checkpoints`])
    expect(existsSync(`${outputPath}.checkpoints`)).toBe(false)
    expect(existsSync(join(outputPath!, 'model.safetensors'))).toBe(true)
    await expect(call('runs.get', { runId })).rejects.toThrow('not_found')
    let store = openStore(join(dataDir, 'sorted.db'))
    expect(store.models.get(run.outputModelId!)).toBeDefined()
    store.close()

    const second = await call<{ runId: string }>('runs.start', request('out-remove-all', { maxSteps: 1 }))
    await untilStatus(second.runId, 'completed')
    const details = await call<RunDetails>('runs.get', { runId: second.runId })
    await call('runs.remove', { runId: second.runId, deleteOutput: true })
    expect(existsSync(details.outputPath!)).toBe(false)
    store = openStore(join(dataDir, 'sorted.db'))
    expect(store.models.get(details.run.outputModelId!)).toBeUndefined()
    store.close()
  })

  it('retries a failed run from its latest checkpoint', async () => {
    const { runId } = await call<{ runId: string }>('runs.start', request('out-retry', { maxSteps: 4 }))
    const stop = backend.subscribe((event, payload) => {
      const p = payload as { runId: string; step: number }
      if (event === 'run.progress' && p.runId === runId && p.step === 2) void call('runs.cancel', { runId })
    })
    await untilStatus(runId, 'paused')
    stop()
    await backend.close()
    const store = openStore(join(dataDir, 'sorted.db'))
    store.runs.start(runId)
    store.runs.fail(runId, 'out of memory')
    store.close()
    backend = open()
    await call('runs.resume', { runId })
    await untilStatus(runId, 'completed')
    const { metrics } = await call<RunDetails>('runs.get', { runId })
    expect(metrics.filter((m) => m.split === 'train' && m.exit === 3).map((m) => m.step)).toEqual([1, 2, 3, 4])
  })

  it('marks a diverging run failed at once, with the step and the last good checkpoint in its error', async () => {
    const { runId } = await call<{ runId: string }>('runs.start', request('out-nan', { maxSteps: 6, lr: 1e300, warmup: 1 }))
    const error = await untilStatus(runId, 'completed').then(() => 'completed', (e: Error) => e.message)
    expect(error).toMatch(/^run failed: training diverged at step 2: .*the last good checkpoint, step 1, is kept in /)
    const { run, outputPath } = await call<RunDetails>('runs.get', { runId })
    expect(run).toMatchObject({ status: 'failed', error: expect.stringContaining('training diverged at step 2') })
    expect(outputPath).toBeNull()
  })

  it('refuses an output folder that is a file, or where no folder can be made, naming the field', async () => {
    const file = join(root, 'a-file')
    writeFileSync(file, 'x')
    for (const outDir of [file, '/proc/sorted-service-test']) {
      expect(await backend.dispatch('runs.start', { ...request('unused', { maxSteps: 1 }), outDir })).toMatchObject({
        ok: false,
        error: { code: 'invalid_params', issues: [{ path: 'outDir', message: expect.stringContaining(outDir) }] },
      })
    }
  })

  it('refuses to resume a run whose checkpoints were made with other settings, keeping it paused', async () => {
    const { runId } = await call<{ runId: string }>('runs.start', request('out-changed', { maxSteps: 4 }))
    const stop = backend.subscribe((event, payload) => {
      const p = payload as { runId: string; step: number }
      if (event === 'run.progress' && p.runId === runId && p.step === 2) void call('runs.cancel', { runId })
    })
    await untilStatus(runId, 'paused')
    stop()
    // As if `sorted tune --resume --force` had gone on in this folder with another learning rate.
    const recordFile = join(root, 'out-changed.checkpoints', 'run.json')
    const record = JSON.parse(readFileSync(recordFile, 'utf8'))
    writeFileSync(recordFile, JSON.stringify({ ...record, settings: { ...record.settings, lr: 0.5, seqLen: 48 } }))
    await expect(call('runs.resume', { runId })).rejects.toThrow(/^conflict: .*were made with other settings: lr 0\.5 \(now 0\.001\), seqLen 48 \(now 32\)\.$/)
    expect((await call<RunDetails>('runs.get', { runId })).run.status).toBe('paused')
  })

  it('refuses to start or resume a run in a folder another job holds, naming the holder, as a conflict on outDir', async () => {
    const { runId } = await call<{ runId: string }>('runs.start', request('out-held', { maxSteps: 3 }))
    const stop = backend.subscribe((event, payload) => {
      const p = payload as { runId: string; step: number }
      if (event === 'run.progress' && p.runId === runId && p.step === 1) void call('runs.cancel', { runId })
    })
    await untilStatus(runId, 'paused')
    stop()
    const out = join(root, 'out-held')
    // As if `sorted tune --resume --out <out>` were running in this folder.
    const held = acquireRunLock(checkpointDirOf(out), { who: 'sorted tune', label: '--out' })
    const busy = new RegExp(`^outDir ${out} is in use by sorted tune \\(pid ${process.pid}, since (\\d{4}-\\d\\d-\\d\\d )?\\d\\d:\\d\\d\\); wait for it or stop it\\.$`)
    try {
      for (const attempt of [backend.dispatch('runs.resume', { runId }), backend.dispatch('runs.start', request('out-held', { maxSteps: 3 }))]) {
        const outcome = await attempt
        expect(outcome).toMatchObject({ ok: false, error: { code: 'conflict', message: expect.stringMatching(busy), issues: [{ path: 'outDir' }] } })
      }
      expect((await call<RunDetails>('runs.get', { runId })).run.status).toBe('paused')
    } finally {
      held.release()
    }
    await call('runs.resume', { runId })
    await untilStatus(runId, 'completed')
  })

  it('previews any readable file without showing its contents, and warns about lines that are not UTF-8', async () => {
    const shadow = join(root, 'shadow')
    writeFileSync(shadow, 'root:$6$Zq9Secret$hash:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n')
    const foreign = await call<DatasetPreview>('datasets.preview', { modelPath: modelDir, dataPath: shadow, seqLen: 32 })
    expect(foreign.errors.map((e) => e.line)).toEqual([1, 2])
    expect(JSON.stringify(foreign)).not.toMatch(/root|Secret|daemon/)
    const latin1 = join(root, 'latin1.jsonl')
    writeFileSync(latin1, Buffer.concat([readFileSync(data), Buffer.from('{"instruction": "caf'), Buffer.from([0xe9]), Buffer.from('", "output": "ok"}\n')]))
    const preview = await call<DatasetPreview>('datasets.preview', { modelPath: modelDir, dataPath: latin1, seqLen: 32 })
    expect(preview.stats?.records).toBe(19)
    expect(preview.warnings).toEqual([expect.stringMatching(/1 line is not valid UTF-8 \(line 19\)/)])
  })

  it('has no file dialog in browser mode, and says what to do instead', async () => {
    expect(await backend.dispatch('app.pickFile', { extensions: ['jsonl'] })).toMatchObject({
      ok: false,
      error: { code: 'conflict', message: expect.stringContaining('upload the file') },
    })
  })

  it('stores an upload in the data folder, reusing an identical one, refusing one too large', async () => {
    const content = readFileSync(data, 'utf8')
    const first = await call<{ path: string }>('datasets.upload', { name: 'C:\\Users\\me\\my data.jsonl', content })
    expect(first.path).toBe(join(dataDir, 'datasets', 'my_data.jsonl'))
    expect(readFileSync(first.path, 'utf8')).toBe(content)
    expect((await call<{ path: string }>('datasets.upload', { name: 'my data.jsonl', content })).path).toBe(first.path)
    expect((await call<{ path: string }>('datasets.upload', { name: 'my data.jsonl', content: '{}\n' })).path).toBe(join(dataDir, 'datasets', 'my_data-2.jsonl'))
    expect(await backend.dispatch('datasets.upload', { name: 'big.jsonl', content: 'x'.repeat(maxUploadBytes + 1) })).toMatchObject({
      ok: false,
      error: { code: 'invalid_params', issues: [{ path: 'content' }] },
    })
    expect(await backend.dispatch('datasets.upload', { name: 'notes.txt', content })).toMatchObject({ ok: false, error: { issues: [{ path: 'name' }] } })
  })
})
