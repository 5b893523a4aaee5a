/**
 * A store write that fails while a training worker reports (a full disk)
 * fails that run with the store's error; the service, and the process, keep
 * running. The worker here is scripted (tests/fixtures/worker-scripts): the
 * subject is what the service does with what it hears, not training.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeAll, afterAll, describe, expect, it, vi } from 'vitest'
import type { EventPayload } from '../../../src-main/api/contract'

type RunStatusEvent = EventPayload<'run.status'>
import { EventBus } from '../../../src-main/services/events'
import { TrainingService } from '../../../src-main/services/training'
import { WorkerHost } from '../../../src-main/services/worker-host'
import { openStore, StoreDiskFullError, type Store } from '../../../src-main/store'
import { writeTinyTextModel } from '../../fixtures/fixtures'
import { scriptWorker } from '../../fixtures/workers'

const root = mkdtempSync(join(tmpdir(), 'training-store-failures-'))
const modelDir = join(root, 'model')
const data = join(root, 'data.jsonl')
let store: Store
let host: WorkerHost<'training'> | undefined
let service: TrainingService | undefined
let n = 0

beforeAll(() => {
  writeTinyTextModel(modelDir, { seed: 3 })
  writeFileSync(data, `${JSON.stringify({ instruction: 'hi', output: 'ho' })}\n`)
})

afterEach(async () => {
  await service?.close()
  await host?.close()
  store.close()
  service = host = undefined
})

afterAll(() => rmSync(root, { recursive: true, force: true }))

function open(log: (message: string) => void): { service: TrainingService; bus: EventBus } {
  store = openStore(join(root, `sorted-${++n}.db`))
  const bus = new EventBus()
  host = new WorkerHost({ training: scriptWorker('scripted-training-worker') }, log)
  service = new TrainingService({ store, bus, workers: host, provider: () => 'cpu', log })
  return { service, bus }
}

const request = () => ({
  modelPath: modelDir, dataPath: data, outDir: join(root, `out-${n}`), mode: 'soft' as const, exits: 'all', batchSize: 1, gradAccum: 1, lr: 1e-3,
  weightDecay: 0, warmup: 0, schedule: 'constant' as const, maxGradNorm: 1, seqLen: 16, seed: 1, shuffle: false, valSplit: 0, onError: 'stop' as const,
  checkpointEvery: 0, evalEvery: 0, maxSteps: 4,
})

function untilFailed(bus: EventBus, runId: string): Promise<RunStatusEvent> {
  return new Promise((resolve) => {
    const stop = bus.subscribe((event, payload) => {
      const status = payload as RunStatusEvent
      if (event === 'run.status' && status.runId === runId && status.status === 'failed') {
        stop()
        resolve(status)
      }
    })
  })
}

describe('training service: a store that cannot write what the worker reports', () => {
  it('fails the run with the disk-full error, and keeps serving', async () => {
    const { service, bus } = open(vi.fn())
    const diskFull = new StoreDiskFullError(store.path, new Error('SQLITE_FULL'))
    vi.spyOn(store.runs, 'recordMetrics').mockImplementation(() => {
      throw diskFull
    })
    const { runId } = service.start(request())
    const failed = await untilFailed(bus, runId)
    expect(failed.error).toBe(diskFull.message)
    expect(store.runs.get(runId)).toMatchObject({ status: 'failed', error: diskFull.message })
    // The service still answers, and the failed run is no longer counted as running.
    expect(service.list().map((r) => [r.id, r.status])).toEqual([[runId, 'failed']])
    expect(() => service.cancel(runId)).toThrow(/not running/)
  })

  it('logs the failure when even marking the run failed cannot be written', async () => {
    const log = vi.fn()
    const { service, bus } = open(log)
    const diskFull = new StoreDiskFullError(store.path, new Error('SQLITE_FULL'))
    vi.spyOn(store.runs, 'recordMetrics').mockImplementation(() => {
      throw diskFull
    })
    vi.spyOn(store.runs, 'fail').mockImplementation(() => {
      throw diskFull
    })
    const { runId } = service.start(request())
    const failed = await untilFailed(bus, runId)
    expect(failed.error).toBe(diskFull.message)
    expect(log).toHaveBeenCalledWith(expect.stringContaining(runId))
    expect(log).toHaveBeenCalledWith(expect.stringContaining(diskFull.message))
    expect(() => service.cancel(runId)).toThrow(/not running/)
  })
})

describe('training service: a stored run config read back', () => {
  it('refuses to resume a run whose stored settings no longer parse, naming the run and the field', () => {
    const { service } = open(vi.fn())
    const model = store.models.add({ name: 'm', architecture: 'llama', path: modelDir, source: 'imported', numLayers: 2, exits: [1, 2] })
    // As an older version, or a hand edit, might have left it: no dataPath, an unknown mode.
    const run = store.runs.create({ modelId: model.id, mode: 'soft', config: { modelPath: modelDir, mode: 'turbo' }, totalSteps: 4 })
    store.runs.start(run.id)
    store.runs.pause(run.id)
    expect(() => service.resume(run.id)).toThrow(new RegExp(`^Run ${run.id} cannot resume: its stored settings are not a valid tuning request \\((dataPath|mode)`))
    // Refused before anything started: the run is still paused, with no job.
    expect(store.runs.get(run.id)!.status).toBe('paused')
    expect(() => service.cancel(run.id)).toThrow(/not running/)
  })
})
