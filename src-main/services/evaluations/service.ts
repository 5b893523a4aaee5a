/**
 * Evaluations as a service: each runs in its own worker thread, which
 * computes and reports; this service stores every answer and verdict it
 * reports (each its own transaction) and sends progress and the final W/L/T
 * rows out as events. A stopped evaluation keeps what was stored, so
 * starting it again resumes where it stopped: the worker gets what is
 * already recorded and skips it.
 */
import { randomUUID } from 'node:crypto'
import type { z } from 'zod'
import type { EvaluationDone, EvaluationProgress, EvaluationRequest } from '../../api/contract'
import { ApiError } from '../../api/errors'
import { batchDecoding, type BatchItem, type BatchJob } from '../../engine/judge/batch'
import type { Store } from '../../store'
import { FromEvaluationWorker, type ToEvaluationWorker } from '../../workers/evaluation-protocol'
import { prepareEvaluation, recordedSoFar, StoreRecords } from './store-records'
import type { EventBus } from '../events'
import type { WorkerJob, Workers } from '../worker-host'

export interface EvaluationServiceDeps {
  store: Store
  bus: EventBus
  workers: Workers<'evaluation'>
}

type Done = Omit<EvaluationDone, 'evaluationId'>

interface Running {
  job: WorkerJob<ToEvaluationWorker>
  request: z.output<typeof EvaluationRequest>
  setId: string | undefined
  progress: EvaluationProgress | undefined
}

/** How long a cancelled evaluation's worker has to finish the item in hand before it is ended anyway. */
const CANCEL_GRACE_MS = 60_000

export class EvaluationService {
  private readonly store: Store
  private readonly bus: EventBus
  private readonly running = new Map<string, Running>()

  constructor(private readonly deps: EvaluationServiceDeps) {
    this.store = deps.store
    this.bus = deps.bus
  }

  start(request: z.output<typeof EvaluationRequest>): { evaluationId: string } {
    if (!this.deps.workers.available('evaluation')) throw new ApiError('internal', 'Evaluation is not available in this process.')
    refuseModeConflicts(request)
    const evaluationId = randomUUID()
    let job: BatchJob
    try {
      job = prepareEvaluation(this.store, request)
    } catch (error) {
      // A set that cannot be read ends the evaluation as a failure with the reason, like any other.
      const message = error instanceof Error ? error.message : String(error)
      setImmediate(() => this.bus.emit('evaluation.done', { evaluationId, ok: false, error: message, rows: [] }))
      return { evaluationId }
    }
    const records = new StoreRecords(this.store, batchDecoding(job.maxNewTokens))
    const items = new Map<string, BatchItem>(job.items.map((item) => [item.id, item]))
    const entry: Running = {
      request,
      setId: job.setId,
      progress: undefined,
      job: this.deps.workers.job<ToEvaluationWorker, FromEvaluationWorker, Done>('evaluation', {
        label: 'The evaluation worker',
        unavailable: 'Evaluation is not available in this process.',
        receives: FromEvaluationWorker,
        start: { type: 'start', job, recorded: recordedSoFar(this.store, job) },
        // The worker is asked, not terminated: ending a thread inside a native
        // ONNX Runtime call can bring the process down. One that does not
        // answer within the grace period is ended anyway.
        cancel: { message: { type: 'cancel' }, graceMs: CANCEL_GRACE_MS },
        onMessage: (m, end) => {
          if (m.type === 'answer' || m.type === 'verdicts') {
            try {
              const item = items.get(m.itemId)
              if (!item) throw new Error(`the worker reported item ${m.itemId}, which is not in the set`)
              if (m.type === 'answer') records.recordAnswer(item, m.contender, m.answer)
              else records.recordVerdicts(item, m.a, m.b, m.judge, { ab: m.ab, ba: m.ba })
            } catch (error) {
              // Nothing more is worth computing if it cannot be stored: the job fails with this.
              throw new Error(`could not store the evaluation's results: ${error instanceof Error ? error.message : String(error)}`, { cause: error })
            }
          } else if (m.type === 'progress') {
            const { type: _, ...progress } = m
            entry.setId = m.setId
            entry.progress = { evaluationId, ...progress }
            this.bus.emit('evaluation.progress', entry.progress)
          } else {
            const { type: _, ...done } = m
            end(done)
          }
        },
        onEnd: (ended) => {
          this.running.delete(evaluationId)
          const done: Done = ended.ok
            ? ended.result
            : ended.cancelTimedOut
              ? { ok: false, cancelled: true, error: 'cancelled', rows: [] }
              : { ok: false, error: ended.error, rows: [] }
          const setId = done.setId ?? entry.setId
          this.bus.emit('evaluation.done', { evaluationId, ...done, ...(setId ? { setId } : {}) })
        },
      }),
    }
    this.running.set(evaluationId, entry)
    return { evaluationId }
  }

  /**
   * Stops the evaluation after the item in hand (stored whole); `evaluation.done`
   * follows with `cancelled: true`.
   */
  cancel(evaluationId: string): void {
    const entry = this.running.get(evaluationId)
    if (!entry) throw new ApiError('not_found', `No running evaluation ${evaluationId}.`)
    entry.job.cancel()
  }

  list(): { evaluationId: string; request: Record<string, unknown>; setId?: string; progress?: EvaluationProgress }[] {
    return [...this.running].map(([evaluationId, r]) => ({
      evaluationId,
      request: r.request as Record<string, unknown>,
      ...(r.setId ? { setId: r.setId } : {}),
      ...(r.progress ? { progress: r.progress } : {}),
    }))
  }

  /** Whether an evaluation is working on this set (it must not be deleted under it). */
  isRunningOn(setId: string): boolean {
    return [...this.running.values()].some((r) => r.setId === setId)
  }

  async close(): Promise<void> {
    const running = [...this.running.values()]
    this.running.clear()
    await Promise.all(running.map((r) => r.job.abandon()))
  }
}

/**
 * A mode picks the depth per token, so it takes no exit, and a matrix runs A
 * at each of its exits, so A takes no mode there: either is the request's
 * error, named by its field, before any worker starts.
 */
function refuseModeConflicts(request: z.output<typeof EvaluationRequest>): void {
  const refuse = (path: string, message: string) => {
    throw new ApiError('invalid_params', `${path}: ${message}.`, [{ path, message }])
  }
  for (const side of ['a', 'b'] as const) {
    const { mode, exit } = request[side]
    if (mode && exit !== undefined) refuse(`${side}.exit`, `give no exit with ${mode.kind === 'exact' ? 'Exact' : 'Auto'} mode (it picks the depth per token)`)
  }
  if (request.matrix && request.a.mode) refuse('a.mode', 'a matrix judges every exit of A: give A without a mode')
}
