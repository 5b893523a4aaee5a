/**
 * One batch evaluation from a set's items to verdicts: contenders (a model
 * folder at an exit) answer every item, a judge compares A with B item by
 * item in both response orders, and the outcomes are tallied. What is
 * already recorded is skipped, so a stopped evaluation resumes where it
 * stopped and a rerun is free.
 *
 * Where answers and verdicts are kept is the caller's (BatchRecords): the
 * store in the CLI's process; in the app, a worker thread runs this and
 * reports each answer and verdict to the evaluation service, which stores it.
 */
import { resolve } from 'node:path'
import type { Depth, GenerateResult } from '../generate/generate'
import { ModelSession } from '../generate/model-session'
import type { WeightsInfo } from '../model/weight-format'
import { peftAdapterMerge } from '../model/peft-adapter'
import { adapterIdentity } from './adapter-identity'
import { answerVariant, contenderLabel, type AdapterIdentity, type ContenderAtExit, type ContenderRun } from './contender'
import { createModelJudge, PANDALM_DECODING } from './model-judge'
import type { JudgeVerdict, Verdict } from './pandalm'
import { referenceJudge } from './reference'
import { combine, tally, type Outcome, type Tally } from './verdicts'
import { WorkEstimate } from './work-estimate'

/** One item of an evaluation set. */
export interface BatchItem {
  id: string
  /** Position in the imported file, from 0. */
  idx: number
  instruction: string
  input: string
  reference: string | null
}

export interface Decoding {
  maxNewTokens: number
  /** Greedy decoding (the paper's setting). */
  greedy: true
}

/** The decoding every answer of an evaluation with this length limit is made (and found again) with. */
export function batchDecoding(maxNewTokens: number): Decoding {
  return { maxNewTokens, greedy: true }
}

export interface Answer {
  output: string
  /** Decode speed; null when too few tokens were decoded to time. */
  tokensPerSecond: number | null
  /** What decoding measured on it; absent on answers recorded without it. */
  stats?: AnswerStats | undefined
}

/** One answer's tokens, the drafted and accepted ones of Exact mode, and the sum of the exits that chose its tokens (Auto's mean exit). */
export interface AnswerStats {
  tokens: number
  drafted: number
  accepted: number
  exitSum: number
}

/**
 * Where an evaluation's answers and verdicts are kept. Lookups say what is
 * already there (skipped); records add what was just made. Every record is
 * one whole item, so a stop between two leaves nothing half-made.
 */
export interface BatchRecords {
  answer(item: BatchItem, contender: ContenderAtExit): Answer | undefined
  recordAnswer(item: BatchItem, contender: ContenderAtExit, answer: Answer): void
  /** The verdicts of `judge` with A's answer shown first (ab) and second (ba). */
  verdicts(item: BatchItem, a: ContenderAtExit, b: ContenderAtExit, judge: string): { ab: Verdict; ba: Verdict } | undefined
  recordVerdicts(item: BatchItem, a: ContenderAtExit, b: ContenderAtExit, judge: string, verdicts: { ab: JudgeVerdict; ba: JudgeVerdict }): void
}

/** Compares two responses to one item; PandaLM-shaped verdict ('1' = response 1 is better). */
export interface PairJudge {
  /** Recorded with each verdict: 'reference', 'pandalm:<model>', … */
  readonly name: string
  judge(item: BatchItem, response1: string, response2: string): Promise<JudgeVerdict>
}

export interface BatchJob {
  setId: string
  items: BatchItem[]
  a: ContenderRun
  b: ContenderRun
  /** 'reference' or 'pandalm:<model folder>'. */
  judge: string
  matrix: boolean
  maxNewTokens: number
}

/** What this run did, and what it found recorded (a resume or a rerun reuses it). */
export interface EvaluationWork {
  answersGenerated: number
  answersReused: number
  judgementsMade: number
  judgementsReused: number
}

export interface EvaluationResult {
  setId: string
  work: EvaluationWork
  judge: string
  /** The full label of B: `folder@exit`, `folder@exact`, `folder@auto:TAU`. */
  b: string
  rows: (Tally & { exit: number; tokensPerSecond: number })[]
  /** How each side ran: its weights and decoding mode. */
  contenders: { a: ContenderReport; b: ContenderReport }
}

/**
 * How a contender ran. Acceptance rate and mean exit are over all its
 * answers on the set, the ones made in this run and the ones found recorded
 * (each is recorded with its figures), so a rerun reports the same.
 */
export interface ContenderReport {
  /** As in the rows: `folder@exit`, `folder@exact`, `folder@auto:TAU`; a matrix's A is its folder. */
  label: string
  /** The weights it ran in: the ones asked for, a GPTQ/AWQ folder's int4, or fp32 where the provider could not run them. */
  weights: WeightsInfo
  weightsFallbackReason?: string
  /** The adapter merged into its weights: its folder, the rank merged and its r. */
  adapter?: { path: string; rank: number; r: number }
  mode: 'exit' | 'exact' | 'auto'
  /** Exact: the exit that drafted. */
  draftExit?: number
  /** Auto: the threshold. */
  tau?: number
  /** Answers made in this run (the rest were found recorded). */
  generated: number
  /** Exact: accepted ÷ drafted tokens. */
  acceptanceRate?: number | null
  /** Auto: the mean exit that chose each token. */
  meanExit?: number | null
}

/** A request that cannot run as given (the user's to fix). */
export class EvaluationSetupError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'EvaluationSetupError'
  }
}

/** Where an evaluation stands: the stage's items and the whole job's work units (one answer or one judged item each). */
export interface EvaluationProgressInfo {
  setId: string
  stage: string
  done: number
  total: number
  overallDone: number
  overallTotal: number
  etaSeconds: number | null
}

/**
 * Has B and each exit of A answer (skipping recorded answers), judges A
 * against B in both orders (skipping recorded verdicts), and tallies.
 * `signal` stops the run after the item in hand, which is recorded whole: a
 * cancelled evaluation ends with an AbortError and resumes from there.
 * (Terminating the thread instead could cut a native ONNX Runtime call short.)
 */
export async function runBatchEvaluation(
  job: BatchJob,
  records: BatchRecords,
  onProgress: (progress: EvaluationProgressInfo) => void = () => {},
  signal?: AbortSignal,
): Promise<EvaluationResult> {
  signal?.throwIfAborted()
  if (job.matrix && job.a.exit !== undefined) throw new EvaluationSetupError('a matrix judges every exit of A: give A without an exit.')
  const { setId, items } = job
  if (items.length === 0) throw new EvaluationSetupError('the evaluation set has no items.')
  const sessions = new Map<string, ModelSession>()
  /** The adapter each session merged in at load, as its answers are keyed. */
  const adapters = new Map<ModelSession, AdapterIdentity>()
  // One session per folder, weights and adapter (at its rank): a side in int4 and a side in fp32
  // of one folder are two models, and so are the base and the base with an adapter.
  const session = async (path: string, contender: ContenderRun = { modelPath: path }) => {
    const weights = contender.precision ? { precision: contender.precision, ...(contender.blockSize ? { blockSize: contender.blockSize } : {}) } : undefined
    const adapter = contender.adapter
    const key = JSON.stringify([resolve(path), weights ?? null, adapter ? [resolve(adapter.path), adapter.rank ?? null] : null])
    let s = sessions.get(key)
    if (!s) {
      const merge = adapter ? peftAdapterMerge(adapter.path, adapter.rank) : undefined
      sessions.set(key, (s = await ModelSession.open(path, weights ? { weights } : {}, merge?.adapt)))
      const applied = merge?.applied()
      if (applied) adapters.set(s, adapterIdentity(applied.path, applied.rank, applied.r))
    }
    return s
  }
  try {
    let judge: PairJudge
    if (job.judge === 'reference') {
      const missing = items.filter((i) => i.reference === null).length
      if (missing) throw new EvaluationSetupError(`the reference judge needs a reference for every item; ${missing} of ${items.length} have none.`)
      judge = { name: 'reference', judge: async (item, r1, r2) => referenceJudge({ response1: r1, response2: r2, reference: item.reference! }) }
    } else if (job.judge.startsWith('pandalm:')) {
      const judgeSession = await session(job.judge.slice('pandalm:'.length))
      const model = createModelJudge(async (prompt) => {
        const result = await judgeSession.generate({
          input: { prompt },
          maxNewTokens: PANDALM_DECODING.maxNewTokens,
          exitAt: () => judgeSession.info.numLayers,
          sampling: { temperature: 0, repetitionPenalty: PANDALM_DECODING.repetitionPenalty },
        })
        return result.text
      })
      judge = { name: `pandalm:${judgeSession.info.name}`, judge: (item, r1, r2) => model.judge({ instruction: item.instruction, input: item.input, response1: r1, response2: r2 }) }
    } else throw new EvaluationSetupError(`the judge must be reference or pandalm:DIR (got "${job.judge}").`)

    if (job.matrix && job.a.mode) throw new EvaluationSetupError('a matrix judges every exit of A: give A without a mode.')
    const decoding = batchDecoding(job.maxNewTokens)
    const sb = await session(job.b.modelPath, job.b)
    const contenderB = settled(job.b, sb, job.b.exit ?? sb.info.numLayers, adapters.get(sb))
    const sa = await session(job.a.modelPath, job.a)
    const exitsOfA = job.matrix ? sa.info.exits : [job.a.exit ?? sa.info.numLayers]
    // A contender is not judged against itself (B's own exit in A's matrix
    // when A and B are one model run alike): both outputs would be one recorded output.
    const contendersOfA = exitsOfA.map((exit) => settled(job.a, sa, exit, adapters.get(sa))).filter((a) => sameKey(a) !== sameKey(contenderB))
    if (contendersOfA.length === 0) throw new EvaluationSetupError(`A and B are the same contender (${contenderLabel(contenderB)}): choose another exit, model, mode, weights or adapter.`)

    // Work units: B's answers, then per exit of A its answers and its judgements.
    const n = items.length
    const overallTotal = n * (1 + 2 * contendersOfA.length)
    let overallDone = 0
    let judgedSoFar = 0
    const work: EvaluationWork = { answersGenerated: 0, answersReused: 0, judgementsMade: 0, judgementsReused: 0 }
    const estimate = new WorkEstimate<'answer' | 'judge'>()
    const remaining = () => {
      const judgementsLeft = n * contendersOfA.length - judgedSoFar
      return { answer: overallTotal - overallDone - judgementsLeft, judge: judgementsLeft }
    }
    const reporter = (stage: string, kind: 'answer' | 'judge') => (done: number, total: number, worked: boolean) => {
      overallDone++
      if (kind === 'judge') judgedSoFar++
      if (kind === 'answer') work[worked ? 'answersGenerated' : 'answersReused']++
      else work[worked ? 'judgementsMade' : 'judgementsReused']++
      estimate.step(kind, worked)
      onProgress({ setId, stage, done, total, overallDone, overallTotal, etaSeconds: estimate.etaSeconds(remaining()) })
      signal?.throwIfAborted()
    }
    onProgress({ setId, stage: 'starting', done: 0, total: n, overallDone, overallTotal, etaSeconds: null })

    estimate.restart()
    const generatedB = await answerAll(records, items, contenderB, sb, decoding, reporter(`answers of ${contenderLabel(contenderB)}`, 'answer'))
    const rows: EvaluationResult['rows'] = []
    let generatedA = 0
    for (const contenderA of contendersOfA) {
      const labelA = contenderLabel(contenderA)
      generatedA += await answerAll(records, items, contenderA, sa, decoding, reporter(`answers of ${labelA}`, 'answer'))
      const result = await judgeAll(records, items, contenderA, contenderB, judge, reporter(`judging ${labelA.slice(contenderA.modelPath.length)}`, 'judge'))
      rows.push({ exit: contenderA.exit, ...result, tokensPerSecond: meanSpeed(records, items, contenderA) })
    }
    const reportA = report(job.matrix ? { modelPath: job.a.modelPath } : contendersOfA[0]!, job.a, sa, adapters.get(sa), generatedA, modeStats(records, items, contendersOfA))
    const reportB = report(contenderB, job.b, sb, adapters.get(sb), generatedB, modeStats(records, items, [contenderB]))
    return { setId, work, judge: judge.name, b: contenderLabel(contenderB), rows, contenders: { a: reportA, b: reportB } }
  } finally {
    for (const s of sessions.values()) await s.release()
  }
}

/**
 * The contender as its answers are recorded: its exit (the full depth in a
 * mode), the weights its session actually holds, its mode, and the adapter
 * its session merged in. A mode needs an exit below the full depth to draft
 * or stop at.
 */
function settled(run: ContenderRun, session: ModelSession, exit: number, adapter: AdapterIdentity | undefined): ContenderAtExit {
  const { weights } = session.info
  if (run.mode && !session.info.modes.includes(run.mode.kind)) {
    const name = run.mode.kind === 'exact' ? 'Exact' : 'Auto'
    throw new EvaluationSetupError(`${contenderLabel({ ...run, exit })}: ${name} mode needs a model of at least 2 layers (${run.modelPath} has ${session.info.numLayers}).`)
  }
  return {
    modelPath: run.modelPath,
    exit: run.mode ? session.info.numLayers : exit,
    precision: weights.precision,
    ...(weights.precision !== 'fp32' && run.blockSize ? { blockSize: run.blockSize } : {}),
    ...(run.mode ? { mode: run.mode } : {}),
    ...(adapter ? { adapter } : {}),
  }
}

/** What makes two contenders the same one (the same recorded answers). */
function sameKey(c: ContenderAtExit): string {
  return JSON.stringify([resolve(c.modelPath), c.exit, answerVariant(c)])
}

/** What decoding measured on one answer. */
function answerStats(result: GenerateResult): AnswerStats {
  return { tokens: result.exits.length, drafted: result.drafted, accepted: result.accepted, exitSum: result.exits.reduce((sum, exit) => sum + exit, 0) }
}

/** Exact's drafted and accepted tokens and Auto's exits, summed over the recorded answers of `contenders` that carry them. */
function modeStats(records: BatchRecords, items: readonly BatchItem[], contenders: readonly ContenderAtExit[]): AnswerStats {
  const total: AnswerStats = { tokens: 0, drafted: 0, accepted: 0, exitSum: 0 }
  for (const contender of contenders) {
    for (const item of items) {
      const stats = records.answer(item, contender)?.stats
      if (!stats) continue
      total.tokens += stats.tokens
      total.drafted += stats.drafted
      total.accepted += stats.accepted
      total.exitSum += stats.exitSum
    }
  }
  return total
}

function report(
  contender: { modelPath: string; exit?: number; mode?: ContenderAtExit['mode'] },
  run: ContenderRun,
  session: ModelSession,
  adapter: AdapterIdentity | undefined,
  generated: number,
  stats: AnswerStats,
): ContenderReport {
  const mode = run.mode?.kind ?? 'exit'
  return {
    label: contenderLabel(contender),
    weights: session.info.weights,
    ...(session.info.weightsFallbackReason ? { weightsFallbackReason: session.info.weightsFallbackReason } : {}),
    ...(adapter ? { adapter: { path: adapter.path, rank: adapter.rank, r: adapter.r } } : {}),
    mode,
    generated,
    ...(mode === 'exact' ? { draftExit: session.defaultDraftExit, acceptanceRate: stats.drafted ? stats.accepted / stats.drafted : null } : {}),
    ...(run.mode?.kind === 'auto' ? { tau: run.mode.tau, meanExit: stats.tokens ? stats.exitSum / stats.tokens : null } : {}),
  }
}

/**
 * The contender answers every item it has no recorded answer for; `onProgress` says per item whether it was worked.
 * Answers are greedy (batchDecoding), so Exact's answer is the full model's greedy answer. Returns how many it made.
 */
async function answerAll(
  records: BatchRecords,
  items: readonly BatchItem[],
  contender: ContenderAtExit,
  session: ModelSession,
  decoding: Decoding,
  onProgress: (done: number, total: number, worked: boolean) => void,
): Promise<number> {
  let generated = 0
  const mode = contender.mode
  const exitAt = (): Depth => (mode?.kind === 'exact' ? 'exact' : mode?.kind === 'auto' ? { auto: mode.tau } : contender.exit)
  for (const [i, item] of items.entries()) {
    const missing = !records.answer(item, contender)
    if (missing) {
      const content = item.input ? `${item.instruction}\n\n${item.input}` : item.instruction
      const result = await session.generate({
        input: { messages: [{ role: 'user', content }] },
        maxNewTokens: decoding.maxNewTokens,
        exitAt,
        ...(mode?.kind === 'exact' ? { speculative: { draftExit: session.defaultDraftExit } } : {}),
      })
      generated++
      const decoded = Math.max(0, result.tokens.length - 1)
      records.recordAnswer(item, contender, {
        output: result.text.trim(),
        tokensPerSecond: decoded > 0 && result.decodeMs > 0 ? (decoded / result.decodeMs) * 1000 : null,
        stats: answerStats(result),
      })
    }
    onProgress(i + 1, items.length, missing)
  }
  return generated
}

function answerOf(records: BatchRecords, item: BatchItem, contender: ContenderAtExit): Answer {
  const found = records.answer(item, contender)
  if (!found) throw new Error(`no output of ${contenderLabel(contender)} for item ${item.idx}: generate first`)
  return found
}

/** Judges A against B on every item in both orders, skipping pairs this judge has a recorded verdict on. */
async function judgeAll(
  records: BatchRecords,
  items: readonly BatchItem[],
  a: ContenderAtExit,
  b: ContenderAtExit,
  judge: PairJudge,
  onProgress: (done: number, total: number, worked: boolean) => void,
): Promise<Tally> {
  const outcomes: Outcome[] = []
  for (const [i, item] of items.entries()) {
    const answerA = answerOf(records, item, a).output
    const answerB = answerOf(records, item, b).output
    let verdicts = records.verdicts(item, a, b, judge.name)
    const missing = !verdicts
    if (!verdicts) {
      const ab = await judge.judge(item, answerA, answerB)
      const ba = await judge.judge(item, answerB, answerA)
      records.recordVerdicts(item, a, b, judge.name, { ab, ba })
      verdicts = { ab: ab.verdict, ba: ba.verdict }
    }
    outcomes.push(combine(verdicts.ab, verdicts.ba))
    onProgress(i + 1, items.length, missing)
  }
  return tally(outcomes)
}

/** Mean decode speed of a contender's recorded answers (tokens/s). */
function meanSpeed(records: BatchRecords, items: readonly BatchItem[], contender: ContenderAtExit): number {
  const speeds = items.map((item) => answerOf(records, item, contender).tokensPerSecond).filter((s): s is number => s !== null)
  return speeds.length ? speeds.reduce((a, b) => a + b, 0) / speeds.length : 0
}
