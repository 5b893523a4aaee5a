/**
 * Evaluations and the store: a set imported or loaded, the answers and
 * verdicts of an evaluation read from and written to the database
 * (StoreRecords), and what is already recorded handed to a worker
 * (recordedSoFar) so that it skips it. The evaluation itself, answering and
 * judging, is the engine's (engine/judge/batch.ts): the CLI runs it here on
 * the store; the app runs it in a worker that reports to the evaluation
 * service, which stores through StoreRecords too.
 */
import { basename, resolve } from 'node:path'
import { readEvalSet } from '../../engine/data/eval-set'
import {
  batchDecoding,
  EvaluationSetupError,
  runBatchEvaluation,
  type Answer,
  type AnswerStats,
  type BatchItem,
  type BatchJob,
  type BatchRecords,
  type Decoding,
  type EvaluationProgressInfo,
  type EvaluationResult,
} from '../../engine/judge/batch'
import { answerVariant, variantOfDecoding, type ContenderAtExit, type ContenderRun } from '../../engine/judge/contender'
import type { JudgeVerdict, Verdict } from '../../engine/judge/pandalm'
import type { EvalItem, Store } from '../../store'
import { registerModelFolder, storedContender } from '../model-registry'

export { EvaluationSetupError, type Decoding }

export class Evaluations {
  constructor(private readonly store: Store) {}

  /**
   * Imports an evaluation set file once; the same file (by name and item
   * count) is reused. The name defaults to the file's name and path.
   */
  importSet(file: string, setName?: string): { setId: string; items: EvalItem[] } {
    const path = resolve(file)
    const { format, items } = readEvalSet(path)
    const name = setName ?? `${basename(path)} (${path})`
    const existing = this.store.evals.sets().find((s) => s.name === name && s.itemCount === items.length)
    const set = existing ?? this.store.evals.importSet(name, format, items)
    return { setId: set.id, items: this.store.evals.items(set.id) }
  }

  /** A stored set's items (a set imported earlier, or the compare view's). */
  loadSet(setId: string): { setId: string; items: EvalItem[] } {
    if (!this.store.evals.getSet(setId)) throw new EvaluationSetupError(`there is no evaluation set ${setId}: import it first.`)
    return { setId, items: this.store.evals.items(setId) }
  }
}

export interface EvaluationJob {
  /** A file to import (or find imported), or a stored set: exactly one. */
  setPath?: string | undefined
  setId?: string | undefined
  a: ContenderRun
  b: ContenderRun
  /** 'reference' or 'pandalm:<model folder>'. */
  judge: string
  matrix: boolean
  maxNewTokens: number
}

/** The job with its set's items: the set file imported (once), or the stored set loaded. */
export function prepareEvaluation(store: Store, job: EvaluationJob): BatchJob {
  if ((job.setPath === undefined) === (job.setId === undefined)) throw new EvaluationSetupError('give exactly one of a set file and a stored set.')
  const evaluations = new Evaluations(store)
  const { setId, items } = job.setId !== undefined ? evaluations.loadSet(job.setId) : evaluations.importSet(job.setPath!)
  return {
    setId,
    items: items.map(({ id, idx, instruction, input, reference }) => ({ id, idx, instruction, input, reference })),
    a: job.a,
    b: job.b,
    judge: job.judge,
    matrix: job.matrix,
    maxNewTokens: job.maxNewTokens,
  }
}

/**
 * An evaluation's answers and verdicts in the database (generations and
 * comparisons), for one decoding. A contender in int8/int4 weights or in
 * Exact/Auto mode (the CLI's) records its answers with that added to the
 * decoding (answerVariant), so they are never taken for fp32 answers at the
 * same exit, nor those for them.
 */
export class StoreRecords implements BatchRecords {
  private readonly decoding: Decoding & Record<string, unknown>

  constructor(
    private readonly store: Store,
    decoding: Decoding,
  ) {
    this.decoding = { ...decoding }
  }

  private decodingOf(contender: ContenderAtExit): Decoding & Record<string, unknown> {
    return { ...this.decoding, ...answerVariant(contender) }
  }

  private generation(item: BatchItem, contender: ContenderAtExit) {
    return this.store.evals.findGeneration(item.id, storedContender(this.store, contender), this.decodingOf(contender))
  }

  answer(item: BatchItem, contender: ContenderAtExit): Answer | undefined {
    const found = this.generation(item, contender)
    if (!found) return undefined
    const stats = found.stats ? answerStatsOf(found.stats) : undefined
    return { output: found.output, tokensPerSecond: found.tokensPerSecond, ...(stats ? { stats } : {}) }
  }

  recordAnswer(item: BatchItem, contender: ContenderAtExit, answer: Answer): void {
    const { stats, ...rest } = answer
    this.store.evals.recordGeneration({
      evalItemId: item.id,
      ...storedContender(this.store, contender),
      decoding: this.decodingOf(contender),
      ...rest,
      stats: stats ? { ...stats } : null,
    })
  }

  verdicts(item: BatchItem, a: ContenderAtExit, b: ContenderAtExit, judge: string): { ab: Verdict; ba: Verdict } | undefined {
    const ga = this.generation(item, a)
    const gb = this.generation(item, b)
    const found = ga && gb ? this.store.evals.findComparison(ga.id, gb.id, judge) : undefined
    // Only a verdict made with A's answer as A counts (as it was judged, in this order).
    return found && found.generationAId === ga!.id ? { ab: found.ab.verdict, ba: found.ba.verdict } : undefined
  }

  recordVerdicts(item: BatchItem, a: ContenderAtExit, b: ContenderAtExit, judge: string, verdicts: { ab: JudgeVerdict; ba: JudgeVerdict }): void {
    const ga = this.generation(item, a)
    const gb = this.generation(item, b)
    if (!ga || !gb) throw new Error(`item ${item.idx}: a verdict on answers that were never stored`)
    this.store.evals.recordComparison({ generationAId: ga.id, generationBId: gb.id, judge, ...verdicts })
  }
}

/** A recorded answer's stats as the engine reads them; undefined when the stored object lacks a figure (it is then not counted). */
function answerStatsOf(json: Record<string, unknown>): AnswerStats | undefined {
  const { tokens, drafted, accepted, exitSum } = json
  const counts = [tokens, drafted, accepted, exitSum]
  if (!counts.every((n) => typeof n === 'number' && Number.isFinite(n) && n >= 0)) return undefined
  return { tokens: tokens as number, drafted: drafted as number, accepted: accepted as number, exitSum: exitSum as number }
}

/** What is already recorded for an evaluation's two models, as a worker gets it at start. */
export interface RecordedSoFar {
  answers: { itemId: string; contender: ContenderAtExit; answer: Answer }[]
  verdicts: { itemId: string; a: ContenderAtExit; b: ContenderAtExit; judge: string; ab: Verdict; ba: Verdict }[]
}

/**
 * Every recorded answer of A's and B's models on the set's items with this
 * job's answer length, at any exit, in any weights and mode the app can ask
 * for (the same decoding keys the CLI writes: answerVariant), with its
 * stats; and every verdict between two of them, in the order it was judged.
 */
export function recordedSoFar(store: Store, job: BatchJob): RecordedSoFar {
  const base = { ...batchDecoding(job.maxNewTokens) }
  const recorded: RecordedSoFar = { answers: [], verdicts: [] }
  const byGeneration = new Map<string, { itemId: string; contender: ContenderAtExit }>()
  const paths = new Map<string, string>()
  for (const modelPath of [job.a.modelPath, job.b.modelPath]) paths.set(registerModelFolder(store, modelPath, 'imported'), modelPath)
  for (const item of job.items) {
    for (const found of store.evals.generations(item.id)) {
      const modelPath = paths.get(found.modelId)
      const variant = modelPath === undefined ? undefined : variantOfDecoding(found.decoding, base)
      // A block size is the CLI's alone: the app never asks for one, so such answers are never looked up here.
      if (modelPath === undefined || variant === undefined || variant.blockSize !== undefined) continue
      const contender: ContenderAtExit = { modelPath, exit: found.exit, ...variant }
      const stats = found.stats ? answerStatsOf(found.stats) : undefined
      recorded.answers.push({ itemId: item.id, contender, answer: { output: found.output, tokensPerSecond: found.tokensPerSecond, ...(stats ? { stats } : {}) } })
      byGeneration.set(found.id, { itemId: item.id, contender })
    }
  }
  for (const c of store.evals.comparisons(job.setId)) {
    const a = byGeneration.get(c.generationAId)
    const b = byGeneration.get(c.generationBId)
    if (a && b) recorded.verdicts.push({ itemId: a.itemId, a: a.contender, b: b.contender, judge: c.judge, ab: c.ab.verdict, ba: c.ba.verdict })
  }
  return recorded
}

/**
 * One evaluation from files to verdicts on the store, in this process (the
 * CLI): import the set, have B and each exit of A answer, judge, tally.
 * `signal` stops it after the item in hand (see runBatchEvaluation).
 */
export async function runEvaluation(
  store: Store,
  job: EvaluationJob,
  onProgress?: (progress: EvaluationProgressInfo) => void,
  signal?: AbortSignal,
): Promise<EvaluationResult> {
  signal?.throwIfAborted()
  if (job.matrix && job.a.exit !== undefined) throw new EvaluationSetupError('a matrix judges every exit of A: give A without an exit.')
  const prepared = prepareEvaluation(store, job)
  return runBatchEvaluation(prepared, new StoreRecords(store, batchDecoding(job.maxNewTokens)), onProgress, signal)
}
