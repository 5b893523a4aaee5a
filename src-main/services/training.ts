/**
 * Fine-tuning runs as a service: each run is a row in SQLite, trained in its
 * own worker thread (a job of the worker host); per-step per-exit metrics, validations and checkpoints
 * are stored as they arrive (upserts: a step recomputed after a crash
 * replaces, never duplicates), and progress goes out as events. A run found
 * `running` at start-up was interrupted by a crash: it is paused, ready to
 * resume from its last checkpoint. A report that cannot be stored (a full
 * disk) fails the run with the store's error; the rest of the app carries on.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs'
import { basename, resolve } from 'node:path'
import type { z } from 'zod'
import { TuneRequest, type ExecutionProviderPreference, type RunDetails, type RunSummary } from '../api/contract'
import { ApiError } from '../api/errors'
import { hasCheckpoints } from '../engine/train/checkpoint'
import { TuneSetupError } from '../engine/train/errors'
import { prepareOutputFolders } from '../engine/train/output-folder'
import { busyMessage, releaseThreadLock, runFolderHolder } from '../engine/train/run-lock'
import { describeChanges } from '../engine/train/run-settings'
import { checkpointDirOf, resumeConflicts } from '../engine/train/tune-job'
import type { Run, Store } from '../store'
import { FromTrainingWorker, type ToTrainingWorker } from '../workers/training-protocol'
import { firstIssue } from '../workers/worker-envelope'
import type { EventBus } from './events'
import { modelConfigOf } from './model-inspect'
import { registerAdapterFolder, registerModelFolder } from './model-registry'
import type { WorkerJob, Workers } from './worker-host'

type TuneRequestData = z.output<typeof TuneRequest>

export interface TrainingServiceDeps {
  store: Store
  bus: EventBus
  workers: Workers<'training'>
  provider: () => ExecutionProviderPreference
  log: (message: string) => void
}

/** How a training job ended, as the run's status event tells it. */
interface RunEnd {
  error?: string
  out?: string
}

/**
 * A diverged step's loss is NaN (and its perplexity may overflow): events
 * carry finite numbers only (the contract's schemas refuse the others), so
 * such an exit is left out of the event; the database keeps it as a gap.
 */
function finite(values: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => Number.isFinite(v)))
}

export class TrainingService {
  private readonly store: Store
  private readonly bus: EventBus
  /** The job of every run training now, by run id. */
  private readonly jobs = new Map<string, WorkerJob<ToTrainingWorker>>()

  constructor(private readonly deps: TrainingServiceDeps) {
    this.store = deps.store
    this.bus = deps.bus
    for (const run of this.store.runs.list({ status: 'running' })) this.store.runs.pause(run.id)
  }

  private summary(run: Run): RunSummary {
    return {
      id: run.id,
      status: run.status,
      mode: run.mode,
      modelId: run.modelId,
      outputModelId: run.outputModelId,
      totalSteps: run.totalSteps,
      lastStep: run.lastStep,
      error: run.error,
      createdAt: run.createdAt,
      request: run.config,
      stepsDone: this.store.runs.stepsDone(run.id),
    }
  }

  list(): RunSummary[] {
    return this.store.runs.list().map((run) => this.summary(run))
  }

  get(runId: string): RunDetails {
    const run = this.store.runs.get(runId)
    if (!run) throw new ApiError('not_found', `No run ${runId}.`)
    const checkpoints = this.store.runs.checkpoints(runId).map((c) => ({ step: c.step, createdAt: c.createdAt, path: c.path, onDisk: existsSync(c.path) }))
    const output = run.outputModelId ? this.store.models.get(run.outputModelId) : undefined
    return { run: this.summary(run), metrics: this.store.runs.metrics(runId), checkpoints, outputPath: output?.path ?? null }
  }

  /**
   * Deletes a run that is not running: its row, metrics and checkpoint
   * records, and its checkpoint folder. The tuned model stays (it is in the
   * library) unless deleteOutput, and then only when no other run was
   * tuned from it (deleting its row would delete those runs too).
   */
  remove(runId: string, deleteOutput: boolean): { removedPaths: string[] } {
    const run = this.store.runs.get(runId)
    if (!run) throw new ApiError('not_found', `No run ${runId}.`)
    if (this.jobs.has(runId) || run.status === 'running') throw new ApiError('conflict', `Run ${runId} is running: cancel it first.`)
    const removedPaths: string[] = []
    const outDir = typeof run.config.outDir === 'string' ? resolve(run.config.outDir) : undefined
    const output = run.outputModelId ? this.store.models.get(run.outputModelId) : undefined
    if (deleteOutput && output && this.store.runs.list({ modelId: output.id }).length > 0) {
      throw new ApiError('conflict', `The tuned model ${output.path} is the base of other runs; delete those first, or keep the model.`)
    }
    this.store.transaction(() => {
      this.store.runs.remove(runId)
      if (deleteOutput && output) this.store.models.remove(output.id)
    })
    if (outDir) {
      const checkpoints = checkpointDirOf(outDir)
      if (existsSync(checkpoints)) {
        rmSync(checkpoints, { recursive: true, force: true })
        removedPaths.push(checkpoints)
      }
      if (deleteOutput && existsSync(outDir)) {
        rmSync(outDir, { recursive: true, force: true })
        removedPaths.push(outDir)
      }
    }
    return { removedPaths }
  }

  private modelId(path: string, source: 'imported' | 'trained'): string {
    return registerModelFolder(this.store, path, source)
  }

  start(request: TuneRequestData): { runId: string } {
    // Refused here, with the field named, rather than by the worker a moment later.
    const out = resolve(request.outDir)
    this.refuseHeldFolder(out)
    const outDirError = (message: string) => new ApiError('invalid_params', `outDir: ${message}`, [{ path: 'outDir', message }])
    const checkpoints = checkpointDirOf(out)
    if (hasCheckpoints(checkpoints)) {
      throw outDirError(`${checkpoints} holds checkpoints of an earlier run; resume that run from the Runs page, or choose another folder.`)
    }
    try {
      // A file, or a place no folder can be made in (/proc), is refused here rather than by the worker.
      prepareOutputFolders(out, checkpoints, 'outDir')
    } catch (error) {
      if (error instanceof TuneSetupError) throw outDirError(error.message.replace(/^outDir: /, ''))
      throw error
    }
    if (existsSync(out) && readdirSync(out).length > 0) throw outDirError(`${out} is not empty; choose a new folder for the tuned model.`)
    const dataset = this.store.datasets.add({ name: basename(request.dataPath), format: 'auto', path: resolve(request.dataPath), recordCount: 0 })
    const run = this.store.runs.create({
      modelId: this.modelId(request.modelPath, 'imported'),
      datasetId: dataset.id,
      mode: request.mode,
      config: request,
      totalSteps: 0,
    })
    this.launch(run.id, request, false)
    return { runId: run.id }
  }

  resume(runId: string): void {
    const run = this.store.runs.get(runId)
    if (!run) throw new ApiError('not_found', `No run ${runId}.`)
    if (this.jobs.has(runId)) throw new ApiError('conflict', `Run ${runId} is already running.`)
    const retry = run.status === 'failed' && this.store.runs.latestCheckpoint(runId) !== undefined
    if (run.status !== 'paused' && !retry) {
      throw new ApiError('conflict', `Run ${runId} is ${run.status}; only a paused or interrupted run, or a failed one with a checkpoint, resumes.`)
    }
    const request = this.storedRequest(runId, run.config)
    this.refuseHeldFolder(resolve(request.outDir))
    this.refuseChangedSettings(runId, request)
    if (retry) this.store.runs.reopen(runId)
    this.launch(runId, request, true)
  }

  /** A folder another job holds (`sorted tune`, or another run of this app) is a conflict naming the holder. */
  private refuseHeldFolder(out: string): void {
    const holder = runFolderHolder(checkpointDirOf(out))
    if (!holder) return
    const message = busyMessage(`outDir ${out}`, holder)
    throw new ApiError('conflict', message, [{ path: 'outDir', message }])
  }

  /**
   * The request a run was started with, read back through the contract's
   * schema: a config written by another version, or edited by hand, is
   * refused here with the run and the field named, not by the worker.
   */
  private storedRequest(runId: string, config: Run['config']): TuneRequestData {
    const parsed = TuneRequest.safeParse(config)
    if (parsed.success) return parsed.data
    throw new ApiError('conflict', `Run ${runId} cannot resume: its stored settings are not a valid tuning request (${firstIssue(parsed.error)}); start a new run instead.`)
  }

  /**
   * A run resumes only with the settings its checkpoints were made with: the
   * folder may have been resumed since by `sorted tune` with others, or its
   * run.json damaged. Refused here, the run keeps its status.
   */
  private refuseChangedSettings(runId: string, request: TuneRequestData): void {
    let numLayers: number
    try {
      numLayers = modelConfigOf(request.modelPath).numLayers
    } catch {
      return // The worker reports an unreadable model, with its file.
    }
    let conflicts: ReturnType<typeof resumeConflicts>
    try {
      conflicts = resumeConflicts(request, numLayers)
    } catch (error) {
      if (error instanceof TuneSetupError) throw new ApiError('conflict', `Run ${runId} cannot resume: ${error.message}`)
      throw error
    }
    if (conflicts.length === 0) return
    throw new ApiError(
      'conflict',
      `Run ${runId} cannot resume: its checkpoints in ${checkpointDirOf(request.outDir)} were made with other settings: ${describeChanges(conflicts, (s) => s)}.`,
    )
  }

  cancel(runId: string): void {
    const job = this.jobs.get(runId)
    if (!job) throw new ApiError('not_found', `Run ${runId} is not running.`)
    // Cooperative: the run stops after the step in hand and answers with a paused `done`.
    job.cancel()
  }

  private status(runId: string, extra: RunEnd = {}): void {
    const run = this.store.runs.get(runId)!
    this.bus.emit('run.status', { runId, status: run.status, ...extra })
  }

  private launch(runId: string, request: TuneRequestData, resume: boolean): void {
    if (!this.deps.workers.available('training')) throw new ApiError('internal', 'Training is not available in this process.')
    // Marked running before the worker starts: a store that cannot write this starts nothing.
    this.store.runs.start(runId)
    const job = this.deps.workers.job<ToTrainingWorker, FromTrainingWorker, RunEnd>('training', {
      label: 'The training worker',
      unavailable: 'Training is not available in this process.',
      receives: FromTrainingWorker,
      start: { type: 'start', request, provider: this.deps.provider(), resume },
      cancel: { message: { type: 'cancel' } },
      // Each report is stored before anything else happens; a store that throws fails the run (see `ended`).
      onMessage: (m, end) => this.record(runId, m, end),
      onEnd: (ended) => {
        // A worker that crashed or was stopped mid-run never released its folder; this process knows it is gone.
        releaseThreadLock(checkpointDirOf(request.outDir), job.threadId)
        this.ended(runId, ended.ok ? ended.result : { error: ended.error })
      },
    })
    this.jobs.set(runId, job)
    this.status(runId)
  }

  /** Stores one report of a run's worker; `end` when it is the last. */
  private record(runId: string, m: FromTrainingWorker, end: (result: RunEnd) => void): void {
    switch (m.type) {
      case 'prepared':
        this.store.runs.planSteps(runId, m.totalSteps)
        break
      case 'step':
        this.store.runs.recordMetrics(runId, [
          { step: m.step, exit: null, split: 'train', loss: null, lr: m.lr, tokensPerSecond: m.tokensPerSecond },
          ...Object.entries(m.loss).map(([exit, loss]) => ({ step: m.step, exit: Number(exit), split: 'train' as const, loss })),
        ])
        this.bus.emit('run.progress', {
          runId,
          step: m.step,
          totalSteps: m.totalSteps,
          loss: finite(m.loss),
          lr: m.lr,
          tokensPerSecond: Number.isFinite(m.tokensPerSecond) ? m.tokensPerSecond : 0,
          etaSeconds: Number.isFinite(m.etaSeconds) ? m.etaSeconds : 0,
        })
        break
      case 'validation':
        this.store.runs.recordMetrics(runId, Object.entries(m.loss).map(([exit, loss]) => ({ step: m.step, exit: Number(exit), split: 'validation' as const, loss })))
        this.bus.emit('run.validation', { runId, step: m.step, loss: finite(m.loss), perplexity: finite(m.perplexity) })
        break
      case 'checkpoint':
        this.store.runs.recordCheckpoint(runId, m.step, m.path)
        this.bus.emit('run.checkpoint', { runId, step: m.step, path: m.path })
        break
      case 'done':
        if (m.finished && m.out) {
          // An adapter run's PEFT folder is listed under the model it was trained on.
          const run = this.store.runs.get(runId)!
          const adapterRun = typeof run.config.adapter === 'string'
          const outputModelId = adapterRun ? registerAdapterFolder(this.store, m.out, run.modelId, 'trained').id : this.modelId(m.out, 'trained')
          this.store.runs.finish(runId, { outputModelId })
          end({ out: m.out })
        } else {
          this.store.runs.pause(runId)
          end({})
        }
        break
      case 'failed':
        // Marked failed in `ended`, like every other failure.
        end({ error: m.error })
        break
    }
  }

  /**
   * A run's job is over: finished or paused (already stored by `record`), or
   * failed, which is stored here. When even that cannot be written (the disk
   * is still full) it is logged, and the run is reported failed anyway; the
   * database still says running, so the next start pauses it, resumable.
   */
  private ended(runId: string, end: RunEnd): void {
    this.jobs.delete(runId)
    if (end.error !== undefined) {
      try {
        this.store.runs.fail(runId, end.error)
      } catch (error) {
        this.deps.log(`training: run ${runId} failed (${end.error}), and that could not be stored: ${error instanceof Error ? error.message : String(error)}`)
        this.bus.emit('run.status', { runId, status: 'failed', error: end.error })
        return
      }
    }
    this.status(runId, end)
    // The library has a new model.
    if (end.out) this.bus.emit('models.changed', {})
  }

  async close(): Promise<void> {
    // Closing the app interrupts runs like a crash would: they stay resumable.
    const running = [...this.jobs]
    this.jobs.clear()
    await Promise.all(running.map(([, job]) => job.abandon()))
    for (const [runId] of running) this.store.runs.pause(runId)
  }
}
