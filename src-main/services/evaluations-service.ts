/**
 * Evaluations as a service: each runs in its own worker thread against the
 * app's database; progress and the final W/L/T rows go out as events.
 */
import { randomUUID } from 'node:crypto'
import { Worker } from 'node:worker_threads'
import type { z } from 'zod'
import type { EvaluationRequest } from '../api/contract'
import { ApiError } from '../api/errors'
import { FromEvaluationWorker, type StartEvaluation } from '../workers/evaluation-protocol'
import type { EngineWorkerSpec } from './engine'
import type { EventBus } from './events'

export class EvaluationService {
  private readonly workers = new Set<Worker>()

  constructor(
    private readonly spec: EngineWorkerSpec | undefined,
    private readonly bus: EventBus,
    private readonly database: { path: string; nativeBinding?: string | undefined },
  ) {}

  start(request: z.output<typeof EvaluationRequest>): { evaluationId: string } {
    if (!this.spec) throw new ApiError('internal', 'Evaluation is not available in this process.')
    const evaluationId = randomUUID()
    const worker = new Worker(this.spec.path, { workerData: this.spec.workerData })
    this.workers.add(worker)
    let finished = false
    const finish = (done: Omit<z.infer<typeof FromEvaluationWorker> & { type: 'done' }, 'type'>) => {
      if (finished) return
      finished = true
      this.workers.delete(worker)
      this.bus.emit('evaluation.done', { evaluationId, ...done })
      void worker.terminate()
    }
    worker.on('message', (raw: unknown) => {
      const parsed = FromEvaluationWorker.safeParse(raw)
      if (!parsed.success) return
      const m = parsed.data
      if (m.type === 'progress') this.bus.emit('evaluation.progress', { evaluationId, stage: m.stage, done: m.done, total: m.total })
      else finish({ ok: m.ok, rows: m.rows, ...(m.error ? { error: m.error } : {}), ...(m.judge ? { judge: m.judge } : {}) })
    })
    worker.on('error', (error) => finish({ ok: false, error: error.message, rows: [] }))
    worker.on('exit', () => finish({ ok: false, error: 'the evaluation worker stopped', rows: [] }))
    const start: StartEvaluation = {
      type: 'start',
      databasePath: this.database.path,
      ...(this.database.nativeBinding ? { nativeBinding: this.database.nativeBinding } : {}),
      request,
    }
    worker.postMessage(start)
    return { evaluationId }
  }

  async close(): Promise<void> {
    const running = [...this.workers]
    this.workers.clear()
    await Promise.all(running.map((w) => w.terminate()))
  }
}
