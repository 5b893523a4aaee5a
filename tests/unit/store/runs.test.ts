import { describe, expect, it } from 'vitest'
import { NotFoundError, RunStateError, type MetricInput, type Store } from '../../../src-main/store'
import { addModel, manualClock, memoryStore } from './helpers'

function createRun(store: Store) {
  return store.runs.create({ modelId: addModel(store).id, mode: 'soft', config: { exits: [2, 4, 8], lr: 1e-4 }, totalSteps: 100 })
}

function runningRun(store: Store) {
  return store.runs.start(createRun(store).id)
}

const stepOne: MetricInput[] = [
  { step: 1, exit: null, split: 'train', loss: 2.5, lr: 1e-4, tokensPerSecond: 900 },
  { step: 1, exit: 2, split: 'train', loss: 3.1 },
  { step: 1, exit: 8, split: 'train', loss: 2.0 },
]

describe('RunsRepository lifecycle', () => {
  it('creates a pending run with its config and no progress', () => {
    const store = memoryStore()

    const run = createRun(store)

    expect(run).toMatchObject({
      mode: 'soft',
      config: { exits: [2, 4, 8], lr: 1e-4 },
      status: 'pending',
      totalSteps: 100,
      lastStep: 0,
      datasetId: null,
      outputModelId: null,
      startedAt: null,
      finishedAt: null,
    })
    expect(store.runs.get(run.id)).toEqual(run)
  })

  it('refuses a mode other than soft, sortednet, sft', () => {
    const store = memoryStore()

    expect(() => store.runs.create({ modelId: addModel(store).id, mode: 'lora' as never, config: {}, totalSteps: 1 })).toThrow(
      /CHECK constraint/,
    )
  })

  it('lists runs newest first, filtered by status or model', () => {
    const clock = manualClock()
    const store = memoryStore({ now: clock.now })
    const first = createRun(store)
    clock.advance()
    const second = createRun(store)
    store.runs.start(second.id)

    expect(store.runs.list().map((r) => r.id)).toEqual([second.id, first.id])
    expect(store.runs.list({ status: 'running' }).map((r) => r.id)).toEqual([second.id])
    expect(store.runs.list({ modelId: first.modelId }).map((r) => r.id)).toEqual([first.id])
  })

  it('starts a run, recording when', () => {
    const clock = manualClock()
    const store = memoryStore({ now: clock.now })

    const run = store.runs.start(createRun(store).id)

    expect(run.status).toBe('running')
    expect(run.startedAt).toBe(clock.now())
  })

  it('resumes a paused run keeping its first start time', () => {
    const clock = manualClock()
    const store = memoryStore({ now: clock.now })
    const run = runningRun(store)
    store.runs.pause(run.id)
    clock.advance()

    const resumed = store.runs.start(run.id)

    expect(resumed.status).toBe('running')
    expect(resumed.startedAt).toBe(run.startedAt)
  })

  it('finishes a running run with the model it produced', () => {
    const clock = manualClock()
    const store = memoryStore({ now: clock.now })
    const run = runningRun(store)
    const output = addModel(store, { source: 'trained', path: '/models/tiny-soft' })
    const end = clock.advance()

    const finished = store.runs.finish(run.id, { outputModelId: output.id })

    expect(finished).toMatchObject({ status: 'completed', outputModelId: output.id, finishedAt: end })
  })

  it('fails a run with the reason', () => {
    const store = memoryStore()
    const run = runningRun(store)

    expect(store.runs.fail(run.id, 'loss became NaN at step 12')).toMatchObject({
      status: 'failed',
      error: 'loss became NaN at step 12',
    })
  })

  it('cancels a paused run', () => {
    const store = memoryStore()
    const run = runningRun(store)
    store.runs.pause(run.id)

    expect(store.runs.cancel(run.id).status).toBe('cancelled')
  })

  it('reopens a failed run as paused, for a retry, and only a failed one', () => {
    const store = memoryStore()
    const run = runningRun(store)
    store.runs.fail(run.id, 'out of memory')

    const reopened = store.runs.reopen(run.id)

    expect(reopened).toMatchObject({ status: 'paused', error: null, finishedAt: null })
    expect(() => store.runs.reopen(run.id)).toThrow(RunStateError)
  })

  it('counts the steps with a recorded training loss', () => {
    const store = memoryStore()
    const run = runningRun(store)
    expect(store.runs.stepsDone(run.id)).toBe(0)
    store.runs.recordMetrics(run.id, stepOne)
    store.runs.recordMetrics(run.id, [{ step: 2, exit: 8, split: 'train', loss: 1.9 }, { step: 3, exit: 8, split: 'validation', loss: 2.2 }])
    expect(store.runs.stepsDone(run.id)).toBe(2)
  })

  it('refuses to finish a cancelled run, naming its state, and leaves it cancelled', () => {
    const store = memoryStore()
    const run = runningRun(store)
    store.runs.cancel(run.id)

    expect(() => store.runs.finish(run.id)).toThrow(new RunStateError(run.id, 'finish', 'cancelled'))
    expect(store.runs.get(run.id)?.status).toBe('cancelled')
  })

  it('refuses to start a run that is already running', () => {
    const store = memoryStore()
    const run = runningRun(store)

    expect(() => store.runs.start(run.id)).toThrow(RunStateError)
  })

  it('reports a state change of a run that does not exist', () => {
    expect(() => memoryStore().runs.start('gone')).toThrow(NotFoundError)
  })
})

describe('RunsRepository metrics', () => {
  it('returns recorded metrics in step order, run-wide before per-exit, train before validation', () => {
    const store = memoryStore()
    const run = runningRun(store)

    store.runs.recordMetrics(run.id, [
      { step: 2, exit: 2, split: 'train', loss: 2.9 },
      { step: 1, exit: 4, split: 'validation', loss: 3.3 },
      ...stepOne,
    ])

    expect(store.runs.metrics(run.id).map((m) => [m.step, m.split, m.exit])).toEqual([
      [1, 'train', null],
      [1, 'train', 2],
      [1, 'train', 8],
      [1, 'validation', 4],
      [2, 'train', 2],
    ])
    expect(store.runs.metrics(run.id)[0]).toMatchObject({ loss: 2.5, lr: 1e-4, tokensPerSecond: 900 })
  })

  it('replaces a metric recorded again for the same step, exit and split instead of duplicating it', () => {
    const store = memoryStore()
    const run = runningRun(store)
    store.runs.recordMetrics(run.id, stepOne)

    // A crash after step 1 was logged: the resumed run logs step 1 again.
    store.runs.recordMetrics(run.id, stepOne.map((m) => ({ ...m, loss: (m.loss ?? 0) + 1 })))

    const metrics = store.runs.metrics(run.id)
    expect(metrics).toHaveLength(3)
    expect(metrics.map((m) => m.loss)).toEqual([3.5, 4.1, 3.0])
  })

  it('writes none of a batch when one metric is invalid', () => {
    const store = memoryStore()
    const run = runningRun(store)

    expect(() =>
      store.runs.recordMetrics(run.id, [...stepOne, { step: 1, exit: 4, split: 'test' as never, loss: 1 }]),
    ).toThrow(/CHECK constraint/)
    expect(store.runs.metrics(run.id)).toEqual([])
  })

  it('refuses metrics for a run that does not exist', () => {
    const store = memoryStore()

    expect(() => store.runs.recordMetrics('gone', stepOne)).toThrow(/FOREIGN KEY/)
    expect(store.runs.metrics('gone')).toEqual([])
  })

  it('keeps a diverged step as a missing loss', () => {
    const store = memoryStore()
    const run = runningRun(store)

    store.runs.recordMetrics(run.id, [{ step: 7, exit: null, split: 'train', loss: Number.NaN }])

    expect(store.runs.metrics(run.id)[0]?.loss).toBeNull()
  })
})

describe('RunsRepository checkpoints', () => {
  it('advances the run to the step of a recorded checkpoint', () => {
    const store = memoryStore()
    const run = runningRun(store)

    const checkpoint = store.runs.recordCheckpoint(run.id, 50, '/runs/r/step-50')

    expect(checkpoint).toMatchObject({ runId: run.id, step: 50, path: '/runs/r/step-50' })
    expect(store.runs.get(run.id)?.lastStep).toBe(50)
  })

  it('resumes from the latest checkpoint', () => {
    const store = memoryStore()
    const run = runningRun(store)
    store.runs.recordCheckpoint(run.id, 20, '/runs/r/step-20')
    store.runs.recordCheckpoint(run.id, 40, '/runs/r/step-40')

    expect(store.runs.latestCheckpoint(run.id)?.path).toBe('/runs/r/step-40')
  })

  it('has no checkpoint to resume from before the first is saved', () => {
    const store = memoryStore()

    expect(store.runs.latestCheckpoint(runningRun(store).id)).toBeUndefined()
  })

  it('replaces a checkpoint recorded again for the same step', () => {
    const store = memoryStore()
    const run = runningRun(store)
    store.runs.recordCheckpoint(run.id, 20, '/runs/r/step-20')

    store.runs.recordCheckpoint(run.id, 20, '/runs/r/step-20-retry')

    expect(store.runs.checkpoints(run.id).map((c) => c.path)).toEqual(['/runs/r/step-20-retry'])
  })

  it('does not move progress backwards when an earlier step is recorded again', () => {
    const store = memoryStore()
    const run = runningRun(store)
    store.runs.recordCheckpoint(run.id, 40, '/runs/r/step-40')

    store.runs.recordCheckpoint(run.id, 20, '/runs/r/step-20')

    expect(store.runs.get(run.id)?.lastStep).toBe(40)
  })

  it('refuses a checkpoint with a fractional step, leaving the run where it was', () => {
    const store = memoryStore()
    const run = runningRun(store)

    expect(() => store.runs.recordCheckpoint(run.id, 20.5, '/runs/r/odd')).toThrow()
    expect(store.runs.get(run.id)?.lastStep).toBe(0)
    expect(store.runs.checkpoints(run.id)).toEqual([])
  })
})

describe('RunsRepository removal', () => {
  it('deletes a run with its metrics and checkpoints', () => {
    const store = memoryStore()
    const run = runningRun(store)
    store.runs.recordMetrics(run.id, stepOne)
    store.runs.recordCheckpoint(run.id, 1, '/runs/r/step-1')

    expect(store.runs.remove(run.id)).toBe(true)
    expect(store.runs.metrics(run.id)).toEqual([])
    expect(store.runs.checkpoints(run.id)).toEqual([])
  })
})
