import { describe, expect, it } from 'vitest'
import type { AdapterRequest, EngineStatus, GenerateRequest, GenerationDone, WeightsRequest } from '../../../src-main/api/contract'
import { ApiError } from '../../../src-main/api/errors'
import { EventBus } from '../../../src-main/services/events'
import { GenerationQueue, QueueFullError, type QueueEngine } from '../../../src-main/services/generation-queue'

const tick = () => new Promise((resolve) => setTimeout(resolve, 0))

/** An engine that loads at once (on the next tick) and finishes a generation when the test says so. */
class FakeEngine implements QueueEngine {
  current: EngineStatus = { state: 'empty' }
  readonly log: string[] = []
  readonly requests = new Map<string, GenerateRequest>()
  failLoad = false

  constructor(private readonly bus: EventBus) {}

  status(): EngineStatus {
    return this.current
  }

  /** Set: every quantized load falls back to fp32 with this reason (a provider without MatMulNBits). */
  quantFallback: string | undefined

  async load(path: string, weights?: WeightsRequest, adapter?: AdapterRequest): Promise<EngineStatus> {
    this.log.push(`${weights ? `load ${path} ${weights.precision}` : `load ${path}`}${adapter ? ` + ${adapter.path}${adapter.rank ? `@${adapter.rank}` : ''}` : ''}`)
    await tick()
    const precision = this.quantFallback ? 'fp32' : (weights?.precision ?? 'fp32')
    const fallback = this.quantFallback && weights && weights.precision !== 'fp32' ? { weightsFallbackReason: this.quantFallback } : {}
    this.current = this.failLoad
      ? { state: 'error', error: 'bad weights' }
      : {
          state: 'ready',
          model: {
            path, name: path, architecture: 'llama', numLayers: 4, contextLength: 64, exits: [1, 2, 4], hasTokenizer: true, hasChatTemplate: false, provider: 'cpu', weights: { precision }, ...fallback,
            // Every fake adapter has r 4.
            ...(adapter ? { adapter: { path: adapter.path, rank: adapter.rank ?? 4, r: 4, kind: 'dylora' as const } } : {}),
          },
        }
    return this.current
  }

  async unload(): Promise<EngineStatus> {
    this.log.push('unload')
    this.current = { state: 'empty' }
    return this.current
  }

  refuseUnfit(): void {
    if (this.current.state !== 'ready') throw new ApiError('conflict', 'No model is loaded: load one first.')
  }

  generate(request: GenerateRequest, generationId: string): { generationId: string } {
    this.log.push(`generate ${generationId} on ${this.current.model?.path}`)
    this.requests.set(generationId, request)
    return { generationId }
  }

  setExit(generationId: string, exit: number): void {
    this.log.push(`setExit ${generationId} ${exit}`)
  }

  cancel(generationId: string): void {
    this.log.push(`cancel ${generationId}`)
    this.finish(generationId, 'cancelled')
  }

  finish(generationId: string, finishReason: GenerationDone['finishReason'] = 'eos'): void {
    this.bus.emit('generation.done', { generationId, finishReason, text: 'ok', tokens: [1], exits: [4], promptTokens: 3, prefillMs: 1, decodeTokensPerSecond: 10 })
  }
}

function setup(maxWaiting = 4) {
  const bus = new EventBus()
  const engine = new FakeEngine(bus)
  const queue = new GenerationQueue({ engine, bus, maxWaiting })
  const done = new Map<string, GenerationDone>()
  bus.subscribe((event, payload) => {
    if (event === 'generation.done') done.set((payload as GenerationDone).generationId, payload as GenerationDone)
  })
  const started = () => engine.log.filter((line) => line.startsWith('generate')).length
  return { bus, engine, queue, done, started }
}

const ask: GenerateRequest = { prompt: 'hi', maxNewTokens: 4 }

describe('the generation queue', () => {
  it('runs one generation at a time, in the order they came', async () => {
    const { engine, queue } = setup()
    const a = queue.submit(ask, { modelPath: '/m1' }).generationId
    const b = queue.submit(ask, { modelPath: '/m1' }).generationId
    await tick()
    await tick()
    expect(engine.log).toEqual(['load /m1', `generate ${a} on /m1`])
    engine.finish(a)
    await tick()
    expect(engine.log).toEqual(['load /m1', `generate ${a} on /m1`, `generate ${b} on /m1`])
    expect(queue.waitingCount()).toBe(0)
  })

  it('never loads another model under a running generation: a load waits, and each generation gets the model it asked for', async () => {
    const { engine, queue } = setup()
    const a = queue.submit(ask, { modelPath: '/m1' }).generationId
    const loaded = queue.load('/m2')
    const b = queue.submit(ask, { modelPath: '/m1' }).generationId
    await tick()
    await tick()
    expect(engine.log).toEqual(['load /m1', `generate ${a} on /m1`])
    engine.finish(a)
    expect(await loaded).toMatchObject({ state: 'ready', model: { path: '/m2' } })
    await tick()
    await tick()
    expect(engine.log).toEqual(['load /m1', `generate ${a} on /m1`, 'load /m2', 'load /m1', `generate ${b} on /m1`])
  })

  it('refuses a bounded request once maxWaiting wait, with a Retry-After of at least a second; the UI is never refused', async () => {
    const { queue } = setup(1)
    queue.submit(ask, { modelPath: '/m1', bounded: true })
    await tick()
    queue.submit(ask, { modelPath: '/m1', bounded: true })
    let refused: unknown
    try {
      queue.submit(ask, { modelPath: '/m1', bounded: true })
    } catch (error) {
      refused = error
    }
    expect(refused).toBeInstanceOf(QueueFullError)
    expect((refused as QueueFullError).retryAfterSeconds).toBeGreaterThanOrEqual(1)
    expect(() => queue.submit(ask, { modelPath: '/m1' })).not.toThrow()
    expect(queue.waitingCount()).toBe(2)
  })

  it('ends a cancelled waiting generation as cancelled without running it, and stops a running one in the engine', async () => {
    const { engine, queue, done, started } = setup()
    const a = queue.submit(ask, { modelPath: '/m1' }).generationId
    const b = queue.submit(ask, { modelPath: '/m1' }).generationId
    await tick()
    await tick()
    queue.cancel(b)
    expect(done.get(b)).toMatchObject({ finishReason: 'cancelled', tokens: [] })
    queue.cancel(a)
    expect(engine.log).toContain(`cancel ${a}`)
    await tick()
    expect(started()).toBe(1)
  })

  it('cancels a generation whose model is still loading: it never reaches the engine', async () => {
    const { engine, queue, done, started } = setup()
    const a = queue.submit(ask, { modelPath: '/m1' }).generationId
    queue.cancel(a)
    await tick()
    await tick()
    expect(started()).toBe(0)
    expect(done.get(a)).toMatchObject({ finishReason: 'cancelled' })
    expect(engine.log).toEqual(['load /m1'])
  })

  it('starts a waiting generation at the exit it was moved to', async () => {
    const { engine, queue } = setup()
    const a = queue.submit(ask, { modelPath: '/m1' }).generationId
    const b = queue.submit({ ...ask, exit: 4 }, { modelPath: '/m1' }).generationId
    await tick()
    await tick()
    queue.setExit(b, 2)
    queue.setExit(a, 1)
    engine.finish(a)
    await tick()
    expect(engine.requests.get(b)?.exit).toBe(2)
    expect(engine.log).toContain(`setExit ${a} 1`)
  })

  it('reports a model that failed to load as the generation failing, and goes on with the next', async () => {
    const { engine, queue, done } = setup()
    engine.failLoad = true
    const a = queue.submit(ask, { modelPath: '/broken' }).generationId
    await tick()
    await tick()
    expect(done.get(a)).toMatchObject({ finishReason: 'error', error: expect.stringContaining('bad weights') })
    engine.failLoad = false
    const b = queue.submit(ask, { modelPath: '/m1' }).generationId
    await tick()
    await tick()
    expect(engine.log.at(-1)).toBe(`generate ${b} on /m1`)
  })

  it('measures at once when the model is loaded and nothing queued changes it, else waits its turn', async () => {
    const { engine, queue } = setup()
    const a = queue.submit(ask, { modelPath: '/m1' }).generationId
    await tick()
    await tick()
    expect(await queue.withModel('/m1', async () => 'now')).toBe('now')
    let ran = false
    const other = queue.withModel('/m2', async () => {
      ran = true
      return engine.status().model?.path
    })
    await tick()
    expect(ran).toBe(false)
    engine.finish(a)
    expect(await other).toBe('/m2')
  })

  it('loads a model in the precision a generation asks for, and again when the next asks for another', async () => {
    const { engine, queue } = setup()
    const a = queue.submit(ask, { modelPath: '/m1', weights: { precision: 'int8' } }).generationId
    await tick()
    await tick()
    engine.finish(a)
    const b = queue.submit(ask, { modelPath: '/m1', weights: { precision: 'int8' } }).generationId
    await tick()
    await tick()
    engine.finish(b)
    const c = queue.submit(ask, { modelPath: '/m1' }).generationId
    await tick()
    await tick()
    expect(engine.log).toEqual(['load /m1 int8', `generate ${a} on /m1`, `generate ${b} on /m1`, 'load /m1', `generate ${c} on /m1`])
  })

  it('a raw engine.generate keeps the precision the model was loaded in', async () => {
    const { engine, queue } = setup()
    await queue.load('/m1', { precision: 'int4' })
    queue.submit(ask)
    await tick()
    await tick()
    expect(engine.log.filter((line) => line.startsWith('load'))).toEqual(['load /m1 int4'])
  })

  it('measures in the precision asked for, and does not reload a model whose quantized load fell back to fp32', async () => {
    const { engine, queue } = setup()
    await queue.withModel('/m1', async () => 'measured', { precision: 'int8' })
    expect(engine.log).toEqual(['load /m1 int8'])
    engine.quantFallback = 'no MatMulNBits on this provider'
    await queue.load('/m2', { precision: 'int4' })
    await queue.withModel('/m2', async () => 'measured', { precision: 'int4' })
    expect(engine.log).toEqual(['load /m1 int8', 'load /m2 int4'])
  })

  it('refuses the raw engine.generate when no model is loaded, as before the queue', () => {
    const { queue } = setup()
    expect(() => queue.submit(ask)).toThrow(/No model is loaded/)
  })
})

describe('a queue that allows no waiting (maxWaiting 0)', () => {
  it('still starts a request when idle, and refuses one while another runs', async () => {
    const { queue } = setup(0)
    expect(() => queue.submit(ask, { modelPath: '/m1', bounded: true })).not.toThrow()
    expect(() => queue.submit(ask, { modelPath: '/m1', bounded: true })).toThrow(QueueFullError)
  })
})

describe('generation queue with adapters', () => {
  it('loads again when the adapter (or its rank) differs from the loaded one, and not when it is the same', async () => {
    const { engine, queue, done } = setup()
    const run = async (options: { adapter?: AdapterRequest }) => {
      const { generationId } = queue.submit({ promptIds: [1] }, { modelPath: '/base', ...options })
      await tick()
      await tick()
      engine.finish(generationId)
      await tick()
      expect(done.get(generationId)?.finishReason).toBe('eos')
    }
    await run({ adapter: { path: '/a' } })
    await run({ adapter: { path: '/a', rank: 4 } })
    await run({ adapter: { path: '/a', rank: 2 } })
    await run({ adapter: { path: '/a' } })
    await run({})
    await run({ adapter: { path: '/b' } })
    expect(engine.log.filter((line) => line.startsWith('load'))).toEqual(['load /base + /a', 'load /base + /a@2', 'load /base + /a', 'load /base', 'load /base + /b'])
  })
})

