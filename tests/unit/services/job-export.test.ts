import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ExportedJob, ModelSummary, RunDetails, RunSummary } from '../../../src-main/api/contract'
import { openBackend, type Backend } from '../../../src-main/services/backend'
import { JobExportService } from '../../../src-main/services/job-export'
import { WorkerHost } from '../../../src-main/services/worker-host'
import { openStore } from '../../../src-main/store'
import { callBackend } from '../../fixtures/backend'
import { writeTinyTextModel } from '../../fixtures/fixtures'
import { sourceWorker } from '../../fixtures/workers'

const root = mkdtempSync(join(tmpdir(), 'job-export-'))
const modelDir = join(root, 'model')
const data = join(root, 'data.jsonl')
let backend: Backend

beforeAll(() => {
  writeTinyTextModel(modelDir, { seed: 2, layers: 2 })
  const lines = Array.from({ length: 6 }, (_, i) => JSON.stringify({ instruction: `say ${i}`, output: `ok ${i}` }))
  writeFileSync(data, `${lines.join('\n')}\n`)
  backend = openBackend({
    transport: 'browser',
    dataDir: join(root, 'app'),
    log: () => {},
    engineWorker: sourceWorker('engine-worker'),
    datasetWorker: sourceWorker('dataset-worker'),
  })
})

afterAll(async () => {
  await backend.close()
  rmSync(root, { recursive: true, force: true })
})

const call = <T>(method: string, params: unknown) => callBackend<T>(backend, method, params)
const tune = { modelPath: modelDir, dataPath: data, outDir: join(root, 'unused'), mode: 'soft', maxSteps: 3, batchSize: 2, seqLen: 32, valSplit: 0.34 }

describe('runs.exportJob', () => {
  it("writes the wizard's request as a self-contained job folder and returns the commands", async () => {
    const job = await call<ExportedJob>('runs.exportJob', { jobDir: join(root, 'job'), tune })
    expect(job.commands.oneNode).toBe(`torchrun --nproc_per_node 8 ${join(root, 'job', 'train.py')}`)
    expect(job.commands.severalNodes).toContain('--nnodes 2')
    expect(readdirSync(job.jobDir).sort()).toEqual(['README.md', 'data', 'job.json', 'model', 'train.py'])
    expect(readdirSync(join(job.jobDir, 'model')).sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'])
    const description = JSON.parse(readFileSync(join(job.jobDir, 'job.json'), 'utf8'))
    expect(description).toMatchObject({ format: 'sorted-studio-job', version: 1, training: { mode: 'soft', exits: [1, 2], totalSteps: 3, batchSize: 2, seqLen: 32 } })
    // Split as the app splits: 2 of 6 held out, each record tokenized with labels masking the prompt.
    expect({ train: job.trainRecords, validation: job.validationRecords }).toEqual({ train: 4, validation: 2 })
    const first = JSON.parse(readFileSync(join(job.jobDir, 'data', 'train.jsonl'), 'utf8').split('\n')[0]!)
    expect(first.input_ids.length).toBe(first.labels.length)
    expect(first.labels).toContain(-100)
    expect(readFileSync(join(job.jobDir, 'README.md'), 'utf8')).toContain('torchrun --nproc_per_node N train.py')
  })

  it('refuses a non-empty folder, a model it cannot run and missing data, naming the field; leaves nothing behind', async () => {
    const refused = async (params: unknown) => {
      const outcome = await backend.dispatch('runs.exportJob', params)
      if (outcome.ok) throw new Error('exported')
      return outcome.error
    }
    expect(await refused({ jobDir: join(root, 'job'), tune })).toMatchObject({ code: 'invalid_params', issues: [{ path: 'jobDir' }] })
    const gpt2 = join(root, 'gpt2')
    writeTinyTextModel(gpt2, { seed: 1, layers: 2, config: { architectures: ['GPT2LMHeadModel'] } })
    const arch = await refused({ jobDir: join(root, 'never'), tune: { ...tune, modelPath: gpt2 } })
    expect(arch).toMatchObject({ code: 'invalid_params', issues: [{ path: 'modelPath' }] })
    expect(arch.message).toContain('GPT2LMHeadModel is not supported')
    const missing = await refused({ jobDir: join(root, 'never'), tune: { ...tune, dataPath: join(root, 'absent.jsonl') } })
    expect(missing).toMatchObject({ code: 'invalid_params', issues: [{ path: 'dataPath' }] })
    expect(existsSync(join(root, 'never'))).toBe(false)
    expect(readdirSync(root).filter((n) => n.includes('.job-'))).toEqual([])
  })

  it("exports a stored run's request, and refuses a run that has none", async () => {
    const store = openStore(join(root, 'runs.db'))
    const workers = new WorkerHost({ dataset: sourceWorker('dataset-worker') }, () => {})
    try {
      const model = store.models.add({ name: 'm', path: modelDir, source: 'imported', architecture: 'llama', numLayers: 2 })
      const run = store.runs.create({ modelId: model.id, mode: 'sft', config: { ...tune, mode: 'sft' }, totalSteps: 3 })
      const service = new JobExportService({ store, workers, templatesDir: undefined })
      const job = await service.export({ jobDir: join(root, 'from-run'), runId: run.id })
      expect(JSON.parse(readFileSync(join(job.jobDir, 'job.json'), 'utf8')).training).toMatchObject({ mode: 'sft', trainedExits: [2] })
      const imported = store.runs.create({ modelId: model.id, mode: 'soft', config: { importedFrom: 'pytorch-job' }, totalSteps: 1 })
      await expect(service.export({ jobDir: join(root, 'never'), runId: imported.id })).rejects.toThrow(/has no tune request/)
    } finally {
      await workers.close()
      store.close()
    }
  })
})

describe('models.import of a job output', () => {
  /** What train.py writes: a model folder with sorted.json (job format), history.jsonl and validation.jsonl. */
  function jobOutput(dir: string, version = 1) {
    writeTinyTextModel(dir, { seed: 7, layers: 2 })
    const sorted = { exits: [1, 2], results: { '1': { val_loss: 3 }, '2': { val_loss: 2.5 } }, mode: 'soft', seed: 5, train: { mode: 'soft', totalSteps: 2, lr: 0.001 }, job: { format: 'sorted-studio-job', version } }
    writeFileSync(join(dir, 'sorted.json'), JSON.stringify(sorted))
    writeFileSync(
      join(dir, 'history.jsonl'),
      `${JSON.stringify({ step: 1, loss: { '1': 4.5, '2': 4.25 }, lr: 0.001, gradNorm: 1 })}\n${JSON.stringify({ step: 2, loss: { '1': 4, '2': 3.75 }, lr: 0.0005, gradNorm: 1 })}\n`,
    )
    writeFileSync(join(dir, 'validation.jsonl'), `${JSON.stringify({ step: 2, loss: { '1': 3, '2': 2.5 }, perplexity: { '1': 20, '2': 12 } })}\n`)
  }

  it('adds the model and its run, completed, with the per-step per-exit history as curves', async () => {
    const output = join(root, 'cluster-output')
    jobOutput(output)
    const { model } = await call<{ model: ModelSummary }>('models.import', { path: output })
    const { runs } = await call<{ runs: RunSummary[] }>('runs.list', {})
    const run = runs.find((r) => r.outputModelId === model.id)!
    expect(run).toMatchObject({ status: 'completed', mode: 'soft', totalSteps: 2, stepsDone: 2 })
    const details = await call<RunDetails>('runs.get', { runId: run.id })
    const train = details.metrics.filter((m) => m.split === 'train' && m.exit !== null).map((m) => [m.step, m.exit, m.loss])
    expect(train).toEqual([[1, 1, 4.5], [1, 2, 4.25], [2, 1, 4], [2, 2, 3.75]])
    expect(details.metrics.filter((m) => m.split === 'validation').map((m) => [m.step, m.exit, m.loss])).toEqual([[2, 1, 3], [2, 2, 2.5]])
  })

  it('refuses an output from a newer job format, and a job folder given instead of its output; adds nothing', async () => {
    const newer = join(root, 'newer-output')
    jobOutput(newer, 2)
    const outcome = await backend.dispatch('models.import', { path: newer })
    expect(outcome).toMatchObject({ ok: false, error: { code: 'invalid_params' } })
    if (!outcome.ok) expect(outcome.error.message).toMatch(/sorted\.json: field "job\.version": 2: written by a newer Sorted Studio/)
    const jobDir = join(root, 'job')
    const notOutput = await backend.dispatch('models.import', { path: jobDir })
    if (!notOutput.ok) expect(notOutput.error.message).toBe(`${jobDir} is a training job, not a model: run it (see its README.md), then import ${join(jobDir, 'output')}.`)
    else throw new Error('imported a job folder')
    const { models } = await call<{ models: ModelSummary[] }>('models.list', {})
    expect(models.map((m) => m.path)).not.toContain(newer)
  })
})
