/**
 * The engine's turn-taking. The engine holds one model at a time and runs one
 * generation at a time (its worker would otherwise interleave a load between
 * a request and the generation it was meant for), so the UI's chat, the raw
 * `engine.*` methods and the OpenAI-compatible API all go through this one
 * FIFO queue:
 *
 *  - a generation names the model it wants; at its turn the queue loads that
 *    model if another is loaded, then starts it, and the next job waits for
 *    its `generation.done`. Loading a different model therefore never breaks
 *    a running generation: the load waits for it.
 *  - loads and unloads asked for directly are jobs too, in the same order.
 *  - the id of a generation is chosen when it is queued, so a waiting request
 *    can be cancelled (it ends with `generation.done`, finishReason
 *    `cancelled`, without running) or have its exit moved.
 *  - `bounded` submissions (the HTTP API) are refused with QueueFullError once
 *    `maxWaiting` jobs wait; the UI's own requests are never refused.
 *
 * Everything here runs on the main thread and only waits on the worker, so
 * neither transport's event loop is ever blocked by a generation.
 */
import { randomUUID } from 'node:crypto'
import type { AdapterRequest, EngineStatus, GenerateRequest, GenerationDone, WeightsRequest } from '../api/contract'
import { ApiError } from '../api/errors'
import type { EventBus } from './events'

/** The part of EngineService the queue drives. */
export interface QueueEngine {
  status(): EngineStatus
  load(path: string, weights?: WeightsRequest, adapter?: AdapterRequest): Promise<EngineStatus>
  unload(): Promise<EngineStatus>
  refuseUnfit(request: GenerateRequest): void
  generate(request: GenerateRequest, generationId: string): { generationId: string }
  setExit(generationId: string, exit: number): void
  cancel(generationId: string): void
}

/** The queue is full: try again later. An ApiError, so a contract call that meets it reports `conflict`. */
export class QueueFullError extends ApiError {
  constructor(
    readonly waiting: number,
    /** A guess at when a place frees up: the recent average time per job, at least a second. */
    readonly retryAfterSeconds: number,
  ) {
    super('conflict', `The engine is busy: ${waiting} requests are already waiting. Try again in ${retryAfterSeconds} s.`)
  }
}

/** The queue is closing: nothing new starts. */
export class QueueClosedError extends ApiError {
  constructor() {
    super('conflict', 'The engine is shutting down.')
  }
}

interface Job {
  /** The model this job needs loaded first; undefined: whatever is loaded at its turn. */
  modelPath: string | undefined
  /** Whether the job itself changes the loaded model (a load or unload asked for directly). */
  changesModel: boolean
  generation?: { id: string; request: GenerateRequest; cancelled: boolean }
  run(): Promise<void>
  /** The job failed before or while running (a load that failed, a refused request). */
  fail(error: Error): void
}

export interface SubmitOptions {
  /** The model to generate with (loaded at the job's turn if needed); default: the model loaded now. */
  modelPath?: string
  /** The precision to load `modelPath` in when it is not loaded so already; default fp32. */
  weights?: WeightsRequest
  /** The adapter to run `modelPath` with (merged at load); default: the base model alone. */
  adapter?: AdapterRequest
  /** Refuse with QueueFullError when the queue is full (the HTTP API); the UI's requests are never refused. */
  bounded?: boolean
}

export interface GenerationQueueDeps extends GenerationQueueOptions {
  engine: QueueEngine
  bus: EventBus
}

export interface GenerationQueueOptions {
  /** How many jobs may wait behind the running one before a bounded submission is refused. */
  maxWaiting: number
}

export class GenerationQueue {
  private readonly waiting: Job[] = []
  private current: Job | undefined
  /** Whether the running job's generation has been handed to the engine (setExit and cancel then go there). */
  private startedInEngine = false
  private closed = false
  /** Seconds the last few jobs took, for Retry-After. */
  private readonly recentSeconds: number[] = []

  private readonly engine: QueueEngine
  private readonly bus: EventBus
  private readonly options: GenerationQueueOptions

  constructor({ engine, bus, ...options }: GenerationQueueDeps) {
    this.engine = engine
    this.bus = bus
    this.options = options
  }

  /** Jobs waiting behind the running one. */
  waitingCount(): number {
    return this.waiting.length
  }

  /** Whether a job is running now. */
  busy(): boolean {
    return this.current !== undefined
  }

  /**
   * Queues a generation and returns its id at once; its tokens and end arrive
   * as `generation.token` / `generation.done` events with that id. Throws
   * (before queueing) what the engine would refuse about the request itself.
   */
  submit(request: GenerateRequest, options: SubmitOptions = {}): { generationId: string } {
    if (this.closed) throw new QueueClosedError()
    let modelPath = options.modelPath
    let weights = options.weights
    let adapter = options.adapter
    if (modelPath === undefined) {
      // The raw engine.generate: the model loaded now (in its precision), checked now, as before the queue existed.
      this.engine.refuseUnfit(request)
      const loaded = this.engine.status().model
      modelPath = loaded?.path
      if (loaded?.weights) weights = { precision: loaded.weights.precision, ...(loaded.weights.blockSize ? { blockSize: loaded.weights.blockSize } : {}) }
      if (loaded?.adapter) adapter = { path: loaded.adapter.path, rank: loaded.adapter.rank }
    }
    if (options.bounded) this.refuseIfFull()
    const generation = { id: randomUUID(), request: { ...request }, cancelled: false }
    this.enqueue({
      modelPath,
      changesModel: false,
      generation,
      run: async () => {
        if (modelPath !== undefined) await this.ensureLoaded(modelPath, weights, adapter)
        if (generation.cancelled) return this.emitEnded(generation.id, 'cancelled')
        const done = this.doneOf(generation.id)
        try {
          this.engine.generate(generation.request, generation.id)
          this.startedInEngine = true
        } catch (error) {
          done.stop()
          throw error
        }
        await done.promise
      },
      fail: (error) => this.emitEnded(generation.id, 'error', error.message),
    })
    return { generationId: generation.id }
  }

  /** Loads a model (in the given weight precision; fp32 by default; with an adapter merged in when given), in turn with generations; resolves with the engine's status after it. */
  load(path: string, weights?: WeightsRequest, adapter?: AdapterRequest): Promise<EngineStatus> {
    return this.task(undefined, true, () => this.engine.load(path, weights, adapter))
  }

  unload(): Promise<EngineStatus> {
    return this.task(undefined, true, () => this.engine.unload())
  }

  /**
   * Runs `work` while `path` is the loaded model (loading it at its turn).
   * When that model is loaded and nothing queued will change it, `work` runs
   * at once: it must only read the model (measure a prompt), not generate.
   */
  withModel<T>(path: string, work: () => Promise<T>, weights?: WeightsRequest, adapter?: AdapterRequest): Promise<T> {
    const status = this.engine.status()
    const jobs = this.current ? [this.current, ...this.waiting] : this.waiting
    const stays = isLoaded(status, path, weights, adapter) && jobs.every((job) => !job.changesModel && (job.modelPath === undefined || job.modelPath === path))
    if (stays) return work()
    return this.task(path, false, async () => {
      await this.ensureLoaded(path, weights, adapter)
      return work()
    })
  }

  /** Stops a generation: a waiting one ends without running, a running one stops after its current token. */
  cancel(generationId: string): void {
    const index = this.waiting.findIndex((job) => job.generation?.id === generationId)
    if (index >= 0) {
      this.waiting.splice(index, 1)
      this.emitEnded(generationId, 'cancelled')
      return
    }
    const running = this.current?.generation
    if (running?.id === generationId) {
      // Before the engine has it (its model still loading), the job sees `cancelled` after the load.
      if (!running.cancelled && this.startedInEngine) {
        try {
          this.engine.cancel(generationId)
        } catch {
          // It finished just now; its generation.done is on the way.
        }
      }
      running.cancelled = true
      return
    }
    this.engine.cancel(generationId)
  }

  /** Moves a generation's exit: a waiting one starts at it, a running one changes from its next token. */
  setExit(generationId: string, exit: number): void {
    const job = [this.current, ...this.waiting].find((j) => j?.generation?.id === generationId)
    const started = job === this.current && this.startedInEngine
    if (job?.generation && !started) {
      job.generation.request = { ...job.generation.request, exit }
      return
    }
    this.engine.setExit(generationId, exit)
  }

  /** Refuses new jobs and ends every waiting generation as cancelled; the running one finishes or is stopped by the engine's close. */
  close(): void {
    this.closed = true
    for (const job of this.waiting.splice(0)) {
      if (job.generation) this.emitEnded(job.generation.id, 'cancelled')
      else job.fail(new QueueClosedError())
    }
  }

  private refuseIfFull(): void {
    // A job that starts at once never waits, whatever the limit (0 allows no waiting at all).
    if (!this.current && this.waiting.length === 0) return
    if (this.waiting.length < this.options.maxWaiting) return
    const seconds = this.recentSeconds.length ? this.recentSeconds.reduce((a, b) => a + b, 0) / this.recentSeconds.length : 1
    throw new QueueFullError(this.waiting.length, Math.max(1, Math.ceil(seconds)))
  }

  private task<T>(modelPath: string | undefined, changesModel: boolean, work: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new QueueClosedError())
    return new Promise<T>((resolve, reject) => {
      this.enqueue({
        modelPath,
        changesModel,
        run: async () => resolve(await work()),
        fail: reject,
      })
    })
  }

  private enqueue(job: Job): void {
    this.waiting.push(job)
    this.pump()
  }

  /** Starts the next job if none runs. Synchronous up to the job's first wait, so an idle queue starts a generation at once. */
  private pump(): void {
    if (this.current) return
    const job = this.waiting.shift()
    if (!job) return
    this.current = job
    this.startedInEngine = false
    const started = performance.now()
    const finish = () => {
      this.recentSeconds.push((performance.now() - started) / 1000)
      if (this.recentSeconds.length > 8) this.recentSeconds.shift()
      this.current = undefined
      this.pump()
    }
    let running: Promise<void>
    try {
      running = job.run()
    } catch (error) {
      running = Promise.reject(error as Error)
    }
    running.then(finish, (error: unknown) => {
      job.fail(error instanceof Error ? error : new Error(String(error)))
      finish()
    })
  }

  private async ensureLoaded(path: string, weights?: WeightsRequest, adapter?: AdapterRequest): Promise<void> {
    if (isLoaded(this.engine.status(), path, weights, adapter)) return
    const loaded = await this.engine.load(path, weights, adapter)
    if (loaded.state !== 'ready') throw new ApiError('conflict', `The model could not be loaded: ${loaded.error ?? 'unknown error'}`)
  }

  /** Resolves on the `generation.done` of `generationId`; subscribe before starting it. */
  private doneOf(generationId: string): { promise: Promise<GenerationDone>; stop(): void } {
    let stop = () => {}
    const promise = new Promise<GenerationDone>((resolve) => {
      stop = this.bus.subscribe((event, payload) => {
        if (event !== 'generation.done' || (payload as GenerationDone).generationId !== generationId) return
        stop()
        resolve(payload as GenerationDone)
      })
    })
    return { promise, stop }
  }

  /** A generation that ends without the engine: cancelled while waiting, or failed before it started. */
  private emitEnded(generationId: string, finishReason: 'cancelled' | 'error', error?: string): void {
    this.bus.emit('generation.done', {
      generationId,
      finishReason,
      text: '',
      tokens: [],
      exits: [],
      promptTokens: 0,
      prefillMs: 0,
      decodeTokensPerSecond: 0,
      ...(error !== undefined ? { error } : {}),
    })
  }
}

/**
 * Whether `path` is loaded in the precision asked for (fp32 when none is),
 * with the adapter asked for (none when none is) at its rank. A model that
 * fell back to fp32 (its provider cannot run quantized weights) counts as
 * loaded whatever was asked: loading it again would fall back again.
 */
function isLoaded(status: EngineStatus, path: string, weights: WeightsRequest | undefined, adapter?: AdapterRequest): boolean {
  if (status.state !== 'ready' || status.model?.path !== path) return false
  const merged = status.model.adapter
  if (merged?.path !== adapter?.path) return false
  // No rank asked for means the adapter's own r.
  if (merged && merged.rank !== (adapter?.rank ?? merged.r)) return false
  const running = status.model.weights?.precision ?? 'fp32'
  return running === (weights?.precision ?? 'fp32') || status.model.weightsFallbackReason !== undefined
}
