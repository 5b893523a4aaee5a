/**
 * The engine's thread: model loading and generation run here, because
 * ONNX Runtime's session.run blocks the thread that calls it. One model at a
 * time; generations run one after another, each reading its exit before
 * every token so engine.setExit takes effect on the next one.
 */
import type { z } from 'zod'
import type { AdapterRequest, ChatMessage, EngineStatus, ExecutionProviderPreference, GenerateRequest, GenerationDone, WeightsRequest } from '../api/contract'
import { PromptError } from '../engine/generate/context'
import { ModelSession } from '../engine/generate/model-session'
import { mergeAdapterFolder } from '../engine/model/merge-adapter'
import { peftAdapterMerge } from '../engine/model/peft-adapter'
import { builtInCalibrationPrompts, calibrationInputs } from '../engine/generate/calibration-prompts'
import { calibrateDraftExit } from '../engine/generate/draft-calibration'
import type { Depth } from '../engine/generate/generate'
import { DEFAULT_AUTO_TAU, type DecodingMode } from '../engine/generate/modes'
import type { PromptInput } from '../engine/generate/prompt'
import { ToWorker, type FromWorker } from './engine-protocol'
import { openWorkerPort } from './worker-port'

type GenerateRequestData = z.output<typeof GenerateRequest>

const port = openWorkerPort<FromWorker>('engine worker')
const post = port.post

let session: ModelSession | undefined
let status: EngineStatus = { state: 'empty' }
/** Per running generation: its exit, or its decoding mode until a setExit moves it to a layer stop. */
const running = new Map<string, { exit: number; mode?: DecodingMode | undefined; controller: AbortController }>()
/** Generations and loads run one after another, in arrival order. */
let queue: Promise<unknown> = Promise.resolve()
/** Settles when the last load or unload asked for is done: a measure must see the model it was asked about. */
let modelSettled: Promise<unknown> = Promise.resolve()

function setStatus(next: EngineStatus): void {
  status = next
  post({ type: 'status', status })
}

function enqueue(job: () => Promise<void>): void {
  queue = queue.then(job, job)
}

async function load(
  path: string,
  options: { provider: ExecutionProviderPreference; cacheDir?: string | undefined; weights?: WeightsRequest | undefined; adapter?: AdapterRequest | undefined },
): Promise<void> {
  await session?.release()
  session = undefined
  setStatus({ state: 'loading', progress: 0, message: 'Reading the model folder' })
  // An adapter is merged into the base's weights before anything is compiled (the same merge as `sorted generate --adapter`).
  const merge = options.adapter ? peftAdapterMerge(options.adapter.path, options.adapter.rank) : undefined
  try {
    session = await ModelSession.open(
      path,
      {
        provider: options.provider,
        ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}),
        ...(options.weights ? { weights: options.weights } : {}),
        log: (message) => post({ type: 'log', message }),
        onProgress: (progress, message) => setStatus({ state: 'loading', progress, message }),
      },
      merge?.adapt,
    )
    // Reasons are present only when there is one (the contract's fields are optional, not undefined).
    const { fallbackReason, weightsFallbackReason, ...info } = session.info
    const adapter = merge?.applied()
    setStatus({
      state: 'ready',
      model: { ...info, ...(fallbackReason ? { fallbackReason } : {}), ...(weightsFallbackReason ? { weightsFallbackReason } : {}), ...(adapter ? { adapter } : {}) },
    })
  } catch (error) {
    setStatus({ state: 'error', error: (error as Error).message })
  }
}

function failed(generationId: string, error: string): GenerationDone {
  return { generationId, finishReason: 'error', text: '', tokens: [], exits: [], promptTokens: 0, prefillMs: 0, decodeTokensPerSecond: 0, error }
}

async function run(generationId: string, r: GenerateRequestData): Promise<void> {
  const state = running.get(generationId)!
  if (!session) {
    running.delete(generationId)
    post({ type: 'done', done: failed(generationId, 'No model is loaded: load one first.') })
    return
  }
  const L = session.info.numLayers
  // The service checks too, but a load may have changed the model while this request was queued.
  if (r.exit !== undefined && r.exit > L) {
    running.delete(generationId)
    post({ type: 'done', done: failed(generationId, `exit ${r.exit} is outside 1..${L}`) })
    return
  }
  if (r.mode !== undefined && !session.info.modes.includes(r.mode)) {
    running.delete(generationId)
    post({ type: 'done', done: failed(generationId, `${session.info.name} offers no ${r.mode} mode: it needs an exit below its ${L} layer(s)`) })
    return
  }
  // state.exit holds the request's exit, or a setExit that arrived while this generation was queued.
  state.exit = Math.min(state.exit, L)
  const autoTau = r.autoTau ?? DEFAULT_AUTO_TAU
  const depth = (): Depth => (state.mode === 'exact' ? 'exact' : state.mode === 'auto' ? { auto: autoTau } : state.exit)
  const input: PromptInput = r.promptIds ? { promptIds: r.promptIds } : r.messages ? { messages: r.messages } : { prompt: r.prompt! }
  try {
    const result = await session.generate({
      input,
      maxNewTokens: r.maxNewTokens,
      exitAt: depth,
      sampling: r.sampling,
      stopStrings: r.stopStrings,
      signal: state.controller.signal,
      onToken: (t) => post({ type: 'token', token: { generationId, index: t.index, id: t.id, text: t.text, exit: t.exit, ...(t.drafted ? { drafted: true } : {}) } }),
    })
    if (result.droppedMessages > 0) post({ type: 'log', message: `engine: ${result.droppedMessages} oldest messages left out to fit the ${session.info.contextLength}-token context` })
    const decoded = result.tokens.length - 1
    post({
      type: 'done',
      done: {
        generationId,
        finishReason: result.finishReason,
        text: result.text,
        tokens: result.tokens,
        exits: result.exits,
        promptTokens: result.promptTokens,
        prefillMs: result.prefillMs,
        decodeTokensPerSecond: decoded > 0 && result.decodeMs > 0 ? (decoded / result.decodeMs) * 1000 : 0,
        ...(result.drafted > 0 ? { drafted: result.drafted, accepted: result.accepted } : {}),
      },
    })
  } catch (error) {
    post({ type: 'done', done: failed(generationId, (error as Error).message) })
  } finally {
    running.delete(generationId)
  }
}

/** How a conversation fits the loaded model: tokenizing only, so it does not wait for a running generation. */
function measure(messages: readonly ChatMessage[]): { fit?: { promptTokens: number; droppedMessages: number }; refused?: string; error?: string } {
  if (!session) return { error: 'No model is loaded: load one first.' }
  try {
    const { ids, droppedMessages } = session.encode({ messages })
    return { fit: { promptTokens: ids.length, droppedMessages } }
  } catch (error) {
    return error instanceof PromptError ? { refused: error.message } : { error: (error as Error).message }
  }
}

/** Measures the loaded model's draft exits on the built-in prompts; the service writes what it chooses. */
async function calibrate(): Promise<void> {
  if (!session) {
    post({ type: 'calibrated', error: 'No model is loaded: load one first.' })
    return
  }
  try {
    const prompts = calibrationInputs(builtInCalibrationPrompts(), { ...session.info, vocabSize: session.config.vocabSize })
    const calibration = await calibrateDraftExit(session, {
      prompts,
      onProgress: ({ fraction, message }) => post({ type: 'calibrationProgress', progress: fraction, message }),
    })
    post({ type: 'calibrated', calibration, weights: session.info.weights })
  } catch (error) {
    post({ type: 'calibrated', error: (error as Error).message })
  }
}

/** Writes base + adapter as a merged folder; the loaded model, if any, stays loaded. */
function merge(request: Extract<ToWorker, { type: 'merge' }>): void {
  try {
    const result = mergeAdapterFolder({
      baseDir: request.baseDir,
      adapterDir: request.adapterDir,
      outDir: request.outDir,
      rank: request.rank,
      onProgress: (progress, message) => post({ type: 'mergeProgress', progress, message }),
    })
    post({ type: 'merged', dir: result.dir, files: result.files })
  } catch (error) {
    post({ type: 'merged', error: (error as Error).message })
  }
}

port.listen(ToWorker, (message) => {
  switch (message.type) {
    case 'load':
      enqueue(() => load(message.path, message))
      modelSettled = queue
      break
    case 'unload':
      enqueue(async () => {
        await session?.release()
        session = undefined
        setStatus({ state: 'empty' })
      })
      modelSettled = queue
      break
    case 'generate':
      running.set(message.generationId, { exit: message.request.exit ?? Number.MAX_SAFE_INTEGER, mode: message.request.mode, controller: new AbortController() })
      enqueue(() => run(message.generationId, message.request))
      break
    case 'setExit': {
      const state = running.get(message.generationId)
      if (state) {
        // A layer stop leaves Exact/Auto; the sequence's caches carry over either way.
        state.exit = Math.min(message.exit, session?.info.numLayers ?? message.exit)
        state.mode = undefined
      }
      break
    }
    case 'cancel':
      running.get(message.generationId)?.controller.abort()
      break
    case 'calibrate':
      enqueue(calibrate)
      break
    case 'merge':
      enqueue(async () => merge(message))
      break
    case 'measure': {
      // Not queued behind generations (it only tokenizes), but after any load still to come.
      const { requestId, messages } = message
      void modelSettled.then(() => post({ type: 'measured', requestId, ...measure(messages) }))
      break
    }
  }
})

