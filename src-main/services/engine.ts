/**
 * The engine as a service: talks to the engine worker thread over a channel
 * of the worker host, forwards requests to it and its tokens and status to
 * the event bus. The main thread never runs a model. A crashed worker is
 * reported (every waiting load, measure and generation hears it) and
 * replaced on the next request.
 */
import { randomUUID } from 'node:crypto'
import type { AdapterRequest, ChatMessage, EngineStatus, ExecutionProviderPreference, GenerateRequest, WeightsRequest } from '../api/contract'
import { ApiError } from '../api/errors'
import { checkPromptFits, PromptError } from '../engine/generate/context'
import { FromWorker, type ToWorker } from '../workers/engine-protocol'
import type { EventBus } from './events'
import type { WorkerChannel, Workers } from './worker-host'

export interface EngineServiceDeps {
  bus: EventBus
  workers: Workers<'engine'>
  /** Where compiled graphs are kept between loads. */
  cacheDir?: string
  provider: () => ExecutionProviderPreference
}

/** How a conversation fits the loaded model's context (see engine/generate/context.ts). */
export interface PromptFit {
  promptTokens: number
  droppedMessages: number
}

export class EngineService {
  private readonly bus: EventBus
  private readonly worker: WorkerChannel<ToWorker>
  private current: EngineStatus = { state: 'empty' }
  private readonly active = new Set<string>()
  private readonly statusWaiters: ((status: EngineStatus) => void)[] = []
  private readonly measures = new Map<string, { resolve: (fit: PromptFit) => void; reject: (error: Error) => void }>()

  constructor(private readonly deps: EngineServiceDeps) {
    this.bus = deps.bus
    this.worker = deps.workers.channel<ToWorker, FromWorker>('engine', {
      label: 'The engine',
      unavailable: 'The engine is not available in this process.',
      receives: FromWorker,
      onMessage: (message) => this.receive(message),
      onCrash: (error) => this.crashed(error),
    })
  }

  status(): EngineStatus {
    return this.current
  }

  private send(message: ToWorker): void {
    this.worker.send(message)
  }

  private receive(message: FromWorker): void {
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

  /** Resolves when loading has finished (ready or error); progress goes out as engine.status events. `weights`: default fp32; `adapter`: merged in at load. */
  load(path: string, weights?: WeightsRequest, adapter?: AdapterRequest): Promise<EngineStatus> {
    const settled = new Promise<EngineStatus>((resolve) => this.statusWaiters.push(resolve))
    this.send({
      type: 'load',
      path,
      provider: this.deps.provider(),
      ...(this.deps.cacheDir ? { cacheDir: this.deps.cacheDir } : {}),
      ...(weights ? { weights } : {}),
      ...(adapter ? { adapter } : {}),
    })
    return settled
  }

  unload(): Promise<EngineStatus> {
    if (!this.worker.started) return Promise.resolve(this.current)
    const settled = new Promise<EngineStatus>((resolve) => this.statusWaiters.push(resolve))
    this.send({ type: 'unload' })
    return settled
  }

  /**
   * Starts a generation. The generation queue (generation-queue.ts) names the
   * id itself, so a request waiting its turn already has the id its tokens
   * will carry.
   */
  generate(request: GenerateRequest, generationId: string = randomUUID()): { generationId: string } {
    this.refuseUnfit(request)
    this.active.add(generationId)
    this.send({ type: 'generate', generationId, request })
    return { generationId }
  }

  /** Refused here, before the worker sees them: no model, an exit the model does not have, ids the context cannot hold. */
  refuseUnfit(request: GenerateRequest): void {
    const model = this.current.state === 'ready' ? this.current.model : undefined
    if (!model) throw new ApiError('conflict', 'No model is loaded: load one first.')
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

  close(): Promise<void> {
    return this.worker.close()
  }
}
