/**
 * Fine-tuning runs: their lifecycle, the metrics they log and the
 * checkpoints they resume from.
 *
 * Lifecycle: pending → running ⇄ paused → completed; pending, running or
 * paused → failed or cancelled; failed → paused to retry from its latest
 * checkpoint. A run found `running` at startup was interrupted by a crash:
 * pause it, then start it again from its latest checkpoint.
 */
import { randomUUID } from 'node:crypto'
import type { Database, Statement, Transaction } from 'better-sqlite3'
import type { Clock } from './clock'
import { NotFoundError, RunStateError } from './errors'
import { decodeJson, encodeJson, type JsonObject } from './json'
import { prepareReturning, type WriteReturning } from './returning'

export type RunMode = 'soft' | 'sortednet' | 'sft'
export type RunStatus = 'pending' | 'running' | 'paused' | 'completed' | 'failed' | 'cancelled'
export type MetricSplit = 'train' | 'validation'

export interface Run {
  id: string
  /** The model being tuned. */
  modelId: string
  datasetId: string | null
  mode: RunMode
  config: JsonObject
  status: RunStatus
  /** Why it failed; null otherwise. */
  error: string | null
  totalSteps: number
  /** The step of the latest checkpoint: how far a resume starts from. */
  lastStep: number
  /** The model this run produced, once finished and saved. */
  outputModelId: string | null
  createdAt: number
  /** When it first started; resuming keeps it. */
  startedAt: number | null
  finishedAt: number | null
}

export interface NewRun {
  id?: string
  modelId: string
  datasetId?: string | null
  mode: RunMode
  config: JsonObject
  totalSteps: number
}

export interface RunFilter {
  modelId?: string
  status?: RunStatus
}

export interface MetricInput {
  step: number
  /** The exit (layer count) the figures are for; null for run-wide figures. */
  exit: number | null
  split: MetricSplit
  /** Null when not measured, or NaN (a diverged step). */
  loss: number | null
  lr?: number | null
  tokensPerSecond?: number | null
}

export interface Metric {
  step: number
  exit: number | null
  split: MetricSplit
  loss: number | null
  lr: number | null
  tokensPerSecond: number | null
  recordedAt: number
}

export interface Checkpoint {
  id: string
  runId: string
  step: number
  path: string
  createdAt: number
}

interface RunRow {
  id: string
  model_id: string
  dataset_id: string | null
  mode: RunMode
  config: string
  status: RunStatus
  error: string | null
  total_steps: number
  last_step: number
  output_model_id: string | null
  created_at: number
  started_at: number | null
  finished_at: number | null
}

interface MetricRow {
  run_id: string
  step: number
  exit: number | null
  split: MetricSplit
  loss: number | null
  lr: number | null
  tokens_per_second: number | null
  recorded_at: number
}

interface CheckpointRow {
  id: string
  run_id: string
  step: number
  path: string
  created_at: number
}

type NewRunRow = Pick<RunRow, 'id' | 'model_id' | 'dataset_id' | 'mode' | 'config' | 'total_steps' | 'created_at'>

function toRun(row: RunRow): Run {
  return {
    id: row.id,
    modelId: row.model_id,
    datasetId: row.dataset_id,
    mode: row.mode,
    config: decodeJson<JsonObject>(row.config),
    status: row.status,
    error: row.error,
    totalSteps: row.total_steps,
    lastStep: row.last_step,
    outputModelId: row.output_model_id,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  }
}

function toMetric(row: MetricRow): Metric {
  return {
    step: row.step,
    exit: row.exit,
    split: row.split,
    loss: row.loss,
    lr: row.lr,
    tokensPerSecond: row.tokens_per_second,
    recordedAt: row.recorded_at,
  }
}

function toCheckpoint(row: CheckpointRow): Checkpoint {
  return { id: row.id, runId: row.run_id, step: row.step, path: row.path, createdAt: row.created_at }
}

const active = `('pending', 'running', 'paused')`

export class RunsRepository {
  readonly #insert: WriteReturning<NewRunRow, RunRow>
  readonly #get: Statement<[string], RunRow>
  readonly #list: Statement<{ model_id: string | null; status: RunStatus | null }, RunRow>
  readonly #delete: Statement<[string]>
  readonly #start: WriteReturning<{ id: string; now: number }, RunRow>
  readonly #pause: WriteReturning<{ id: string }, RunRow>
  readonly #finish: WriteReturning<{ id: string; now: number; output_model_id: string | null }, RunRow>
  readonly #fail: WriteReturning<{ id: string; now: number; error: string }, RunRow>
  readonly #cancel: WriteReturning<{ id: string; now: number }, RunRow>
  readonly #reopen: WriteReturning<{ id: string }, RunRow>
  readonly #stepsDone: Statement<[string], { steps: number | null }>
  readonly #putMetric: Statement<MetricRow>
  readonly #metrics: Statement<[string], MetricRow>
  readonly #putCheckpoint: WriteReturning<CheckpointRow, CheckpointRow>
  readonly #advance: Statement<{ id: string; step: number }>
  readonly #planSteps: Statement<{ id: string; total_steps: number }>
  readonly #checkpoints: Statement<[string], CheckpointRow>
  readonly #latestCheckpoint: Statement<[string], CheckpointRow>
  readonly #recordMetrics: Transaction<(runId: string, metrics: readonly MetricInput[]) => void>
  readonly #recordCheckpoint: Transaction<(runId: string, step: number, path: string) => Checkpoint>
  readonly #now: Clock

  constructor(db: Database, now: Clock) {
    this.#now = now
    this.#insert = prepareReturning<NewRunRow, RunRow>(
      db,
      `INSERT INTO runs (id, model_id, dataset_id, mode, config, total_steps, created_at)
       VALUES (@id, @model_id, @dataset_id, @mode, @config, @total_steps, @created_at)
       RETURNING *`,
    )
    this.#get = db.prepare<[string], RunRow>('SELECT * FROM runs WHERE id = ?')
    this.#list = db.prepare<{ model_id: string | null; status: RunStatus | null }, RunRow>(
      `SELECT * FROM runs
       WHERE (@model_id IS NULL OR model_id = @model_id) AND (@status IS NULL OR status = @status)
       ORDER BY created_at DESC, rowid DESC`,
    )
    this.#delete = db.prepare<[string]>('DELETE FROM runs WHERE id = ?')

    // Each state change is conditional on the states it may leave, so two
    // callers racing (cancel vs finish) cannot both win.
    this.#start = prepareReturning<{ id: string; now: number }, RunRow>(
      db,
      `UPDATE runs SET status = 'running', started_at = coalesce(started_at, @now), error = NULL
       WHERE id = @id AND status IN ('pending', 'paused') RETURNING *`,
    )
    this.#pause = prepareReturning<{ id: string }, RunRow>(
      db,
      `UPDATE runs SET status = 'paused' WHERE id = @id AND status = 'running' RETURNING *`,
    )
    this.#finish = prepareReturning<{ id: string; now: number; output_model_id: string | null }, RunRow>(
      db,
      `UPDATE runs SET status = 'completed', finished_at = @now, output_model_id = @output_model_id
       WHERE id = @id AND status = 'running' RETURNING *`,
    )
    this.#fail = prepareReturning<{ id: string; now: number; error: string }, RunRow>(
      db,
      `UPDATE runs SET status = 'failed', error = @error, finished_at = @now
       WHERE id = @id AND status IN ${active} RETURNING *`,
    )
    this.#cancel = prepareReturning<{ id: string; now: number }, RunRow>(
      db,
      `UPDATE runs SET status = 'cancelled', finished_at = @now WHERE id = @id AND status IN ${active} RETURNING *`,
    )

    this.#reopen = prepareReturning<{ id: string }, RunRow>(
      db,
      `UPDATE runs SET status = 'paused', error = NULL, finished_at = NULL WHERE id = @id AND status = 'failed' RETURNING *`,
    )
    this.#stepsDone = db.prepare<[string], { steps: number | null }>(
      `SELECT max(step) AS steps FROM run_metrics WHERE run_id = ? AND split = 'train'`,
    )

    this.#putMetric = db.prepare<MetricRow>(
      `INSERT INTO run_metrics (run_id, step, exit, split, loss, lr, tokens_per_second, recorded_at)
       VALUES (@run_id, @step, @exit, @split, @loss, @lr, @tokens_per_second, @recorded_at)
       ON CONFLICT (run_id, step, ifnull(exit, 0), split) DO UPDATE SET
         loss = excluded.loss, lr = excluded.lr,
         tokens_per_second = excluded.tokens_per_second, recorded_at = excluded.recorded_at`,
    )
    this.#metrics = db.prepare<[string], MetricRow>(
      'SELECT * FROM run_metrics WHERE run_id = ? ORDER BY step, split, ifnull(exit, 0)',
    )

    this.#putCheckpoint = prepareReturning<CheckpointRow, CheckpointRow>(
      db,
      `INSERT INTO checkpoints (id, run_id, step, path, created_at) VALUES (@id, @run_id, @step, @path, @created_at)
       ON CONFLICT (run_id, step) DO UPDATE SET path = excluded.path, created_at = excluded.created_at
       RETURNING *`,
    )
    // max(): re-recording an earlier step (a resume) must not move progress backwards.
    this.#advance = db.prepare<{ id: string; step: number }>(
      'UPDATE runs SET last_step = max(last_step, @step) WHERE id = @id',
    )
    this.#planSteps = db.prepare<{ id: string; total_steps: number }>('UPDATE runs SET total_steps = @total_steps WHERE id = @id')
    this.#checkpoints = db.prepare<[string], CheckpointRow>('SELECT * FROM checkpoints WHERE run_id = ? ORDER BY step')
    this.#latestCheckpoint = db.prepare<[string], CheckpointRow>(
      'SELECT * FROM checkpoints WHERE run_id = ? ORDER BY step DESC LIMIT 1',
    )

    this.#recordMetrics = db.transaction((runId: string, metrics: readonly MetricInput[]) => {
      const at = this.#now()
      for (const metric of metrics) {
        this.#putMetric.run({
          run_id: runId,
          step: metric.step,
          exit: metric.exit,
          split: metric.split,
          loss: metric.loss,
          lr: metric.lr ?? null,
          tokens_per_second: metric.tokensPerSecond ?? null,
          recorded_at: at,
        })
      }
    })
    this.#recordCheckpoint = db.transaction((runId: string, step: number, path: string) => {
      const row = this.#putCheckpoint({ id: randomUUID(), run_id: runId, step, path, created_at: this.#now() })
      this.#advance.run({ id: runId, step })
      return toCheckpoint(row!)
    })
  }

  create(run: NewRun): Run {
    const row = this.#insert({
      id: run.id ?? randomUUID(),
      model_id: run.modelId,
      dataset_id: run.datasetId ?? null,
      mode: run.mode,
      config: encodeJson(run.config, 'config'),
      total_steps: run.totalSteps,
      created_at: this.#now(),
    })
    return toRun(row!)
  }

  get(id: string): Run | undefined {
    const row = this.#get.get(id)
    return row === undefined ? undefined : toRun(row)
  }

  /** Newest first. */
  list(filter: RunFilter = {}): Run[] {
    return this.#list.all({ model_id: filter.modelId ?? null, status: filter.status ?? null }).map(toRun)
  }

  /** Deletes the run with its metrics and checkpoint records (not the checkpoint files). */
  remove(id: string): boolean {
    return this.#delete.run(id).changes > 0
  }

  /** Starts a pending run, or resumes a paused one. */
  start(id: string): Run {
    return this.#transition(id, 'start', this.#start({ id, now: this.#now() }))
  }

  pause(id: string): Run {
    return this.#transition(id, 'pause', this.#pause({ id }))
  }

  finish(id: string, outcome: { outputModelId?: string | null } = {}): Run {
    const outputModelId = outcome.outputModelId ?? null
    return this.#transition(id, 'finish', this.#finish({ id, now: this.#now(), output_model_id: outputModelId }))
  }

  fail(id: string, error: string): Run {
    return this.#transition(id, 'fail', this.#fail({ id, now: this.#now(), error }))
  }

  cancel(id: string): Run {
    return this.#transition(id, 'cancel', this.#cancel({ id, now: this.#now() }))
  }

  /** A failed run back to paused, so that it can be retried from its latest checkpoint. */
  reopen(id: string): Run {
    return this.#transition(id, 'reopen', this.#reopen({ id }))
  }

  /** The last step with a recorded training figure (0 when none): how far the run's curve goes. */
  stepsDone(runId: string): number {
    return this.#stepsDone.get(runId)?.steps ?? 0
  }

  /** Sets how many steps the run takes, once the dataset has been read (it depends on its size). */
  planSteps(id: string, totalSteps: number): void {
    if (this.#planSteps.run({ id, total_steps: totalSteps }).changes === 0) throw new NotFoundError('run', id)
  }

  /** Records all metrics or none. A metric already recorded (same step, exit, split) is replaced. */
  recordMetrics(runId: string, metrics: readonly MetricInput[]): void {
    this.#recordMetrics(runId, metrics)
  }

  /** In step order; at each step train before validation, run-wide before per-exit. */
  metrics(runId: string): Metric[] {
    return this.#metrics.all(runId).map(toMetric)
  }

  /** Records a saved checkpoint and advances the run's last step, together. */
  recordCheckpoint(runId: string, step: number, path: string): Checkpoint {
    return this.#recordCheckpoint(runId, step, path)
  }

  checkpoints(runId: string): Checkpoint[] {
    return this.#checkpoints.all(runId).map(toCheckpoint)
  }

  /** The checkpoint a resume starts from. */
  latestCheckpoint(runId: string): Checkpoint | undefined {
    const row = this.#latestCheckpoint.get(runId)
    return row === undefined ? undefined : toCheckpoint(row)
  }

  #transition(id: string, action: string, updated: RunRow | undefined): Run {
    if (updated !== undefined) return toRun(updated)
    const current = this.#get.get(id)
    if (current === undefined) throw new NotFoundError('run', id)
    throw new RunStateError(id, action, current.status)
  }
}
