/**
 * The compare view's thread: answers one prompt with two contenders, one
 * side after the other. Sequential on purpose: both sides share this
 * machine's cores, and interleaving them would make each side's measured
 * speed depend on the other; one after the other, each speed is the
 * contender's own. The last two models stay open, so comparing the same two
 * contenders again starts at once.
 */
import type { ExecutionProviderPreference, WeightPrecision } from '../api/contract'
import type { Depth, GenerateResult } from '../engine/generate/generate'
import { ModelSession } from '../engine/generate/model-session'
import { ToCompareWorker, type FromCompareWorker } from './compare-protocol'
import { openWorkerPort } from './worker-port'

const port = openWorkerPort<FromCompareWorker>('compare worker')
const post = port.post

type Job = Extract<ToCompareWorker, { type: 'generate' }>

/** Open sessions by folder, provider and precision, least recently used first. */
const sessions = new Map<string, ModelSession>()
const KEEP_OPEN = 2
const controllers = new Map<string, AbortController>()
let queue: Promise<unknown> = Promise.resolve()

async function session(
  path: string,
  precision: WeightPrecision,
  provider: ExecutionProviderPreference,
  cacheDir: string | undefined,
  onProgress: (f: number, m: string) => void,
): Promise<ModelSession> {
  const key = `${provider}\0${precision}\0${path}`
  const open = sessions.get(key)
  if (open) {
    sessions.delete(key)
    sessions.set(key, open)
    return open
  }
  while (sessions.size >= KEEP_OPEN) {
    const [oldest, s] = sessions.entries().next().value as [string, ModelSession]
    sessions.delete(oldest)
    await s.release()
  }
  const opened = await ModelSession.open(path, {
    provider,
    ...(precision === 'fp32' ? {} : { weights: { precision } }),
    ...(cacheDir ? { cacheDir } : {}),
    log: (message) => post({ type: 'log', message }),
    onProgress,
  })
  sessions.set(key, opened)
  return opened
}

async function run(job: Job): Promise<void> {
  const { compareId, side } = job
  const controller = controllers.get(compareId)
  let precision: WeightPrecision | undefined
  const finish = (rest: {
    finishReason: 'eos' | 'stop' | 'length' | 'cancelled' | 'error'
    text?: string
    exit?: number | null
    tokensPerSecond?: number
    error?: string
    figures?: Pick<Extract<FromCompareWorker, { type: 'done' }>, 'acceptanceRate' | 'meanExit' | 'stats'>
  }) =>
    post({
      type: 'done',
      compareId,
      side,
      text: rest.text ?? '',
      exit: rest.exit ?? null,
      tokensPerSecond: rest.tokensPerSecond ?? 0,
      finishReason: rest.finishReason,
      ...(precision ? { precision } : {}),
      ...(job.mode ? { mode: job.mode } : {}),
      ...(rest.figures ?? {}),
      ...(rest.error ? { error: rest.error } : {}),
    })
  if (!controller || controller.signal.aborted) return finish({ finishReason: 'cancelled' })
  let exit: number | null = null
  try {
    post({ type: 'status', compareId, side, state: 'loading', progress: 0 })
    const s = await session(job.modelPath, job.precision ?? 'fp32', job.provider, job.cacheDir, (progress, message) =>
      post({ type: 'status', compareId, side, state: 'loading', progress: Math.min(1, Math.max(0, progress)), message }),
    )
    precision = s.info.weights.precision
    if (s.info.weightsFallbackReason) post({ type: 'log', message: `compare ${side}: ${s.info.weightsFallbackReason}` })
    if (job.exit > s.info.numLayers) return finish({ finishReason: 'error', error: `exit ${job.exit} is outside 1..${s.info.numLayers} (${s.info.name}'s layers)` })
    if (job.mode && !s.info.modes.includes(job.mode.kind)) {
      return finish({ finishReason: 'error', error: `${job.mode.kind === 'exact' ? 'Exact' : 'Auto'} mode needs a model of at least 2 layers (${s.info.name} has ${s.info.numLayers})` })
    }
    exit = job.mode ? s.info.numLayers : job.exit
    const mode = job.mode
    const depth: Depth = mode?.kind === 'exact' ? 'exact' : mode?.kind === 'auto' ? { auto: mode.tau } : job.exit
    if (controller.signal.aborted) return finish({ finishReason: 'cancelled', exit })
    post({ type: 'status', compareId, side, state: 'generating' })
    const result = await s.generate({
      input: { messages: [{ role: 'user', content: job.prompt }] },
      maxNewTokens: job.maxNewTokens,
      exitAt: () => depth,
      signal: controller.signal,
      onToken: (t) => post({ type: 'token', compareId, side, index: t.index, text: t.text }),
    })
    const decoded = Math.max(0, result.tokens.length - 1)
    finish({
      finishReason: result.finishReason,
      text: result.text,
      exit,
      tokensPerSecond: decoded > 0 && result.decodeMs > 0 ? (decoded / result.decodeMs) * 1000 : 0,
      figures: modeFigures(mode, result),
    })
  } catch (error) {
    finish({ finishReason: 'error', exit, error: error instanceof Error ? error.message : String(error) })
  }
}

/** What decoding measured on the answer: the stats stored with it, and Exact's acceptance or Auto's mean exit. */
function modeFigures(mode: Job['mode'], result: GenerateResult) {
  const stats = { tokens: result.exits.length, drafted: result.drafted, accepted: result.accepted, exitSum: result.exits.reduce((sum, e) => sum + e, 0) }
  if (mode?.kind === 'exact') return { stats, acceptanceRate: stats.drafted > 0 ? stats.accepted / stats.drafted : null }
  if (mode?.kind === 'auto') return { stats, meanExit: stats.tokens > 0 ? stats.exitSum / stats.tokens : null }
  return { stats }
}

port.listen(ToCompareWorker, (message) => {
  if (message.type === 'cancel') {
    controllers.get(message.compareId)?.abort()
    return
  }
  if (!controllers.has(message.compareId)) controllers.set(message.compareId, new AbortController())
  post({ type: 'status', compareId: message.compareId, side: message.side, state: 'queued' })
  queue = queue.then(() => run(message)).finally(() => {
    // The B side is the last of a compare run.
    if (message.side === 'b') controllers.delete(message.compareId)
  })
})
