/**
 * The engine as a service: owns the engine worker thread, forwards requests
 * to it and its tokens and status to the event bus. The main thread never
 * runs a model. A crashed worker is reported and replaced on the next load.
 */
import { randomUUID } from 'node:crypto'
import { Worker } from 'node:worker_threads'
import type { ChatMessage, EngineStatus, ExecutionProviderPreference, GenerateRequest, WeightsRequest } from '../api/contract'
import { ApiError } from '../api/errors'
import { checkPromptFits, PromptError } from '../engine/generate/context'
import { FromWorker, type ToWorker } from '../workers/engine-protocol'
import type { EventBus } from './events'

export interface EngineWorkerSpec {
  /** The worker's file: the built engine-worker.js (or scripts/tsx-worker.mjs to run the source). */
  path: string
  workerData?: unknown
}

/** How a conversation fits the loaded model's context (see engine/generate/context.ts). */
export interface PromptFit {
  promptTokens: number
  droppedMessages: number
}

export class EngineService {
  private worker: Worker | undefined
  private current: EngineStatus = { state: 'empty' }
  private readonly active = new Set<string>()
  private readonly statusWaiters: ((status: EngineStatus) => void)[] = []
  private readonly measures = new Map<string, { resolve: (fit: PromptFit) => void; reject: (error: Error) => void }>()

  constructor(
    private readonly spec: EngineWorkerSpec | undefined,
    private readonly bus: EventBus,
    private readonly options: { cacheDir?: string; provider: () => ExecutionProviderPreference; log: (message: string) => void },
  ) {}

  status(): EngineStatus {
    return this.current
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker
    if (!this.spec) throw new ApiError('internal', 'The engine is not available in this process.')
    const worker = new Worker(this.spec.path, { workerData: this.spec.workerData })
    worker.on('message', (raw: unknown) => this.receive(raw))
    worker.on('error', (error) => this.crashed(`The engine stopped: ${error.message}`))
    worker.on('exit', (code) => {
      if (this.worker === worker) this.crashed(`The engine stopped (exit code ${code}).`)
    })
    this.worker = worker
    return worker
  }

  private send(message: ToWorker): void {
    this.ensureWorker().postMessage(message)
  }

  private receive(raw: unknown): void {
    const parsed = FromWorker.safeParse(raw)
    if (!parsed.success) return this.options.log(`engine: malformed message from the worker: ${parsed.error.message}`)
    const message = parsed.data
    switch (message.type) {
      case 'status':
        this.current = message.status
        this.bus.emit('engine.status', message.status)
        if (message.status.state !== 'loading') for (const waiter of this.statusWaiters.splice(0)) waiter(message.status)
        break
      case 'token':
        this.bus.emit('generation.token', message.token)
        break
      case 'done':
        this.active.delete(message.done.generationId)
        this.bus.emit('generation.done', message.done)
        break
      case 'log':
        this.options.log(message.message)
        break
      case 'measured': {
        const waiter = this.measures.get(message.requestId)
        this.measures.delete(message.requestId)
        if (!waiter) break
        if (message.fit) waiter.resolve(message.fit)
        else if (message.refused) waiter.reject(new PromptError(message.refused))
        else waiter.reject(new ApiError('conflict', message.error ?? 'The engine could not read the prompt.'))
        break
      }
    }
  }

  private crashed(error: string): void {
    this.worker = undefined
    this.current = { state: 'error', error }
    this.bus.emit('engine.status', this.current)
    for (const waiter of this.statusWaiters.splice(0)) waiter(this.current)
    for (const waiter of this.measures.values()) waiter.reject(new ApiError('internal', error))
    this.measures.clear()
    for (const generationId of this.active) {
      this.bus.emit('generation.done', {
        generationId,
        finishReason: 'error',
        text: '',
        tokens: [],
        exits: [],
        promptTokens: 0,
        prefillMs: 0,
        decodeTokensPerSecond: 0,
        error,
      })
    }
    this.active.clear()
  }

  /** Resolves when loading has finished (ready or error); progress goes out as engine.status events. `weights`: default fp32. */
  load(path: string, weights?: WeightsRequest): Promise<EngineStatus> {
    const settled = new Promise<EngineStatus>((resolve) => this.statusWaiters.push(resolve))
    this.send({
      type: 'load',
      path,
      provider: this.options.provider(),
      ...(this.options.cacheDir ? { cacheDir: this.options.cacheDir } : {}),
      ...(weights ? { weights } : {}),
    })
    return settled
  }

  unload(): Promise<EngineStatus> {
    if (!this.worker) return Promise.resolve(this.current)
    const settled = new Promise<EngineStatus>((resolve) => this.statusWaiters.push(resolve))
    this.send({ type: 'unload' })
    return settled
  }

  generate(request: GenerateRequest): { generationId: string } {
    const model = this.current.state === 'ready' ? this.current.model : undefined
    if (!model) throw new ApiError('conflict', 'No model is loaded: load one first.')
    // Refused here, before the worker sees them: an exit the model does not have, ids the context cannot hold.
    if (request.exit !== undefined && request.exit > model.numLayers) {
      const message = `exit ${request.exit} is outside 1..${model.numLayers}`
      throw new ApiError('invalid_params', message, [{ path: 'exit', message }])
    }
    if (request.promptIds) {
      try {
        checkPromptFits(request.promptIds.length, model.contextLength)
      } catch (error) {
        const message = (error as Error).message
        throw new ApiError('invalid_params', `promptIds: ${message}`, [{ path: 'promptIds', message }])
      }
    }
    const generationId = randomUUID()
    this.active.add(generationId)
    this.send({ type: 'generate', generationId, request })
    return { generationId }
  }

  /**
   * How `messages` fit the loaded model's context, from the worker (the main
   * thread never tokenizes). Rejects with PromptError when even the latest
   * turn does not fit, naming the limit.
   */
  measure(messages: ChatMessage[]): Promise<PromptFit> {
    if (this.current.state !== 'ready') return Promise.reject(new ApiError('conflict', 'No model is loaded: load one first.'))
    const requestId = randomUUID()
    const settled = new Promise<PromptFit>((resolve, reject) => this.measures.set(requestId, { resolve, reject }))
    this.send({ type: 'measure', requestId, messages })
    return settled
  }

  private running(generationId: string): void {
    if (!this.active.has(generationId)) throw new ApiError('not_found', `No running generation ${generationId}.`)
  }

  setExit(generationId: string, exit: number): void {
    this.running(generationId)
    const layers = this.current.model?.numLayers ?? exit
    if (exit > layers) throw new ApiError('invalid_params', `exit ${exit} is outside 1..${layers}`, [{ path: 'exit', message: `at most ${layers}` }])
    this.send({ type: 'setExit', generationId, exit })
  }

  cancel(generationId: string): void {
    this.running(generationId)
    this.send({ type: 'cancel', generationId })
  }

  async close(): Promise<void> {
    const worker = this.worker
    this.worker = undefined
    await worker?.terminate()
  }
}
