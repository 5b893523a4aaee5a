/**
 * What the OpenAI-compatible API (server/openai) asks of the backend, in its
 * own terms: the library's models under API ids (see api-model-ids.ts), and
 * generations started through the generation queue, each reported to the one
 * request that asked for it. No HTTP and no OpenAI wire format here.
 */
import { GenerateRequest, type ChatMessage, type GenerationDone, type GenerationToken, type Sampling } from '../api/contract'
import { ApiError, issuesFromZod } from '../api/errors'
import { contextPhrase } from '../engine/generate/context'
import { decodingModesFor } from '../engine/generate/modes'
import { assignApiNames, budgetsOf, formatModelId, offers, parseModelId, type Budget } from './api-model-ids'
import type { EventBus } from './events'
import type { GenerationQueue } from './generation-queue'
import type { ModelLibrary } from './model-library'

export interface ApiModel {
  /** The id a client sends: NAME, NAME@K, NAME@mode. */
  id: string
  /** The library model behind it. */
  libraryId: string
  path: string
  budget: Budget
  numLayers: number
  /** Unix seconds, as OpenAI's `created`. */
  created: number
  source: string
}

export interface ApiGeneration {
  model: ApiModel
  input: { messages: ChatMessage[] } | { prompt: string }
  maxNewTokens: number
  sampling: Sampling
  stopStrings: string[]
}

export interface GenerationListener {
  token(token: GenerationToken): void
  done(done: GenerationDone): void
}

const contextRefusal = contextPhrase(0).split(' 0 ')[0]!

/** Whether a failed generation failed on its prompt (too long for the context), which is the client's to fix. */
export function isPromptRefusal(error: string | undefined): boolean {
  return error !== undefined && error.includes(contextRefusal)
}

export interface LocalApiServiceDeps {
  library: ModelLibrary
  /** The API's generations take their turn with the app's. */
  queue: GenerationQueue
  bus: EventBus
}

export class LocalApiService {
  private readonly listeners = new Map<string, GenerationListener>()

  private readonly library: ModelLibrary
  private readonly queue: GenerationQueue

  constructor({ library, queue, bus }: LocalApiServiceDeps) {
    this.library = library
    this.queue = queue
    bus.subscribe((event, payload) => {
      if (event === 'generation.token') this.listeners.get((payload as GenerationToken).generationId)?.token(payload as GenerationToken)
      else if (event === 'generation.done') {
        const done = payload as GenerationDone
        const listener = this.listeners.get(done.generationId)
        this.listeners.delete(done.generationId)
        listener?.done(done)
      }
    })
  }

  /** Library models with the decoding modes the engine offers for each; adapters are served once merged into a model of their own. */
  private offered() {
    return this.library.list().filter((model) => !model.adapter).map((model) => ({ ...model, modes: decodingModesFor(model.numLayers) }))
  }

  /** Every library model at every budget it offers, in the library's order. */
  models(): ApiModel[] {
    return assignApiNames(this.offered()).flatMap(({ model, name }) =>
      budgetsOf(model).map((budget) => ({
        id: formatModelId(name, budget),
        libraryId: model.id,
        path: model.path,
        budget,
        numLayers: model.numLayers,
        created: Math.floor(model.createdAt / 1000),
        source: model.source,
      })),
    )
  }

  /** The model an id names, or undefined (unknown name, an exit or mode it does not offer). */
  find(id: string): ApiModel | undefined {
    const parsed = parseModelId(id)
    if (!parsed) return undefined
    const named = assignApiNames(this.offered()).find((entry) => entry.name === parsed.name)
    if (!named || !offers(named.model, parsed.budget)) return undefined
    return this.models().find((model) => model.id === id)
  }

  /** Jobs waiting for the engine now. */
  waiting(): number {
    return this.queue.waitingCount()
  }

  /**
   * Queues a generation (refused with QueueFullError when the queue is full)
   * and reports its tokens and end to `listener` only. `cancel` stops it,
   * waiting or running; the listener still hears its `done`.
   */
  start(generation: ApiGeneration, listener: GenerationListener): { generationId: string; cancel(): void } {
    const request = GenerateRequest.safeParse({
      ...generation.input,
      ...(generation.model.budget.kind === 'exit' ? { exit: generation.model.budget.exit } : {}),
      ...(generation.model.budget.kind === 'mode' ? { mode: generation.model.budget.mode } : {}),
      maxNewTokens: generation.maxNewTokens,
      sampling: generation.sampling,
      stopStrings: generation.stopStrings,
    })
    // The server checks each field first; this is the contract's own limit, so the worker never sees a request it would drop.
    if (!request.success) {
      const issues = issuesFromZod(request.error)
      throw new ApiError('invalid_params', issues.map((i) => `${i.path}: ${i.message}`).join('; '), issues)
    }
    const { generationId } = this.queue.submit(request.data, { modelPath: generation.model.path, weights: this.library.weightsFor(generation.model.path), bounded: true })
    this.listeners.set(generationId, listener)
    return {
      generationId,
      cancel: () => {
        try {
          this.queue.cancel(generationId)
        } catch {
          // Already finished.
        }
      },
    }
  }
}
