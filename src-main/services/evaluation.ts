/**
 * Evaluations: contenders (a model folder at an exit) answer every item of an
 * evaluation set, each output stored with its speed; a judge compares two
 * contenders item by item in both response orders; W/L/T and score come from
 * the stored verdicts. Every step skips what the database already holds, so
 * a killed evaluation resumes where it stopped and a rerun is free.
 */
import { basename, resolve } from 'node:path'
import { readEvalSet } from '../engine/data/eval-set'
import { ModelSession } from '../engine/generate/model-session'
import { createModelJudge, PANDALM_DECODING } from '../engine/judge/model-judge'
import { referenceJudge } from '../engine/judge/reference'
import type { JudgeVerdict } from '../engine/judge/pandalm'
import { combine, tally, type Outcome, type Tally } from '../engine/judge/verdicts'
import type { EvalItem, Generation, Store } from '../store'
import { registerModelFolder } from './model-registry'
import { WorkEstimate } from './work-estimate'

/** Compares two responses to one item; PandaLM-shaped verdict ('1' = response 1 is better). */
export interface PairJudge {
  /** Stored with each comparison: 'reference', 'pandalm:<model>', … */
  readonly name: string
  judge(item: { instruction: string; input: string; reference: string | null }, response1: string, response2: string): Promise<JudgeVerdict>
}

export interface Contender {
  modelPath: string
  exit: number
}

export interface Decoding {
  maxNewTokens: number
  /** Greedy decoding (the paper's setting). */
  greedy: true
}

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

  contenderId(contender: Contender): { modelId: string; exit: number } {
    return { modelId: registerModelFolder(this.store, contender.modelPath, 'imported'), exit: contender.exit }
  }

  /**
   * Generates the contender's missing outputs; returns how many were generated
   * now. `onProgress` says after each item whether it was worked or found stored.
   */
  async generate(
    items: readonly EvalItem[],
    contender: Contender,
    session: ModelSession,
    decoding: Decoding,
    onProgress?: (done: number, total: number, worked: boolean) => void,
  ): Promise<number> {
    const who = this.contenderId(contender)
    const config = { ...decoding }
    let generated = 0
    for (const [i, item] of items.entries()) {
      const missing = !this.store.evals.findGeneration(item.id, who, config)
      if (missing) {
        const content = item.input ? `${item.instruction}\n\n${item.input}` : item.instruction
        const result = await session.generate({ input: { messages: [{ role: 'user', content }] }, maxNewTokens: decoding.maxNewTokens, exitAt: () => contender.exit })
        const decoded = Math.max(0, result.tokens.length - 1)
        this.store.evals.recordGeneration({
          evalItemId: item.id,
          ...who,
          decoding: config,
          output: result.text.trim(),
          tokensPerSecond: decoded > 0 && result.decodeMs > 0 ? (decoded / result.decodeMs) * 1000 : null,
        })
        generated++
      }
      onProgress?.(i + 1, items.length, missing)
    }
    return generated
  }

  private generationOf(item: EvalItem, contender: Contender, decoding: Decoding): Generation {
    const found = this.store.evals.findGeneration(item.id, this.contenderId(contender), { ...decoding })
    if (!found) throw new Error(`no output of ${contender.modelPath}@${contender.exit} for item ${item.idx}: generate first`)
    return found
  }

  /** Judges A against B on every item in both orders, skipping pairs already judged by this judge. */
  async judge(
    items: readonly EvalItem[],
    a: Contender,
    b: Contender,
    decoding: Decoding,
    judge: PairJudge,
    onProgress?: (done: number, total: number, worked: boolean) => void,
  ): Promise<Tally> {
    // Verdicts already stored (a rerun, or a resume after a kill), read once.
    const setId = items[0]?.evalSetId
    const key = (aId: string, bId: string) => `${aId}|${bId}`
    const stored = new Map(
      (setId ? this.store.evals.comparisons(setId) : []).filter((c) => c.judge === judge.name).map((c) => [key(c.generationAId, c.generationBId), c]),
    )
    const outcomes: Outcome[] = []
    for (const [i, item] of items.entries()) {
      const ga = this.generationOf(item, a, decoding)
      const gb = this.generationOf(item, b, decoding)
      let comparison = stored.get(key(ga.id, gb.id))
      const missing = !comparison
      if (!comparison) {
        const ab = await judge.judge(item, ga.output, gb.output)
        const ba = await judge.judge(item, gb.output, ga.output)
        comparison = this.store.evals.recordComparison({ generationAId: ga.id, generationBId: gb.id, judge: judge.name, ab, ba })
      }
      outcomes.push(combine(comparison.ab.verdict, comparison.ba.verdict))
      onProgress?.(i + 1, items.length, missing)
    }
    return tally(outcomes)
  }

  /** Mean decode speed of a contender's stored outputs (tokens/s). */
  speed(items: readonly EvalItem[], contender: Contender, decoding: Decoding): number {
    const speeds = items.map((item) => this.generationOf(item, contender, decoding).tokensPerSecond).filter((s): s is number => s !== null)
    return speeds.length ? speeds.reduce((a, b) => a + b, 0) / speeds.length : 0
  }
}

export interface EvaluationJob {
  /** A file to import (or find imported), or a stored set: exactly one. */
  setPath?: string | undefined
  setId?: string | undefined
  a: { modelPath: string; exit?: number | undefined }
  b: { modelPath: string; exit?: number | undefined }
  /** 'reference' or 'pandalm:<model folder>'. */
  judge: string
  matrix: boolean
  maxNewTokens: number
}

/** What this run did, and what it found stored (a resume or a rerun reuses it). */
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
  /** The full label of B, `folder@exit`. */
  b: string
  rows: (Tally & { exit: number; tokensPerSecond: number })[]
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
 * One evaluation from files to verdicts: import the set, have B and each
 * exit of A answer (skipping stored answers), judge A against B in both
 * orders (skipping stored verdicts), and tally. The CLI and the evaluation
 * worker both run exactly this.
 */
export async function runEvaluation(
  store: Store,
  job: EvaluationJob,
  onProgress: (progress: EvaluationProgressInfo) => void = () => {},
  /**
   * Stops the run after the item in hand, which is stored whole: a cancelled
   * evaluation ends with an AbortError and resumes from there. (Terminating
   * the thread instead could cut a native ONNX Runtime call short.)
   */
  signal?: AbortSignal,
): Promise<EvaluationResult> {
  signal?.throwIfAborted()
  if (job.matrix && job.a.exit !== undefined) throw new EvaluationSetupError('a matrix judges every exit of A: give A without an exit.')
  if ((job.setPath === undefined) === (job.setId === undefined)) throw new EvaluationSetupError('give exactly one of a set file and a stored set.')
  const sessions = new Map<string, ModelSession>()
  const session = async (path: string) => {
    let s = sessions.get(path)
    if (!s) sessions.set(path, (s = await ModelSession.open(path)))
    return s
  }
  try {
    const evaluations = new Evaluations(store)
    const { setId, items } = job.setId !== undefined ? evaluations.loadSet(job.setId) : evaluations.importSet(job.setPath!)
    if (items.length === 0) throw new EvaluationSetupError('the evaluation set has no items.')
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

    const decoding: Decoding = { maxNewTokens: job.maxNewTokens, greedy: true }
    const sb = await session(job.b.modelPath)
    const contenderB: Contender = { modelPath: job.b.modelPath, exit: job.b.exit ?? sb.info.numLayers }
    const sa = await session(job.a.modelPath)
    // A contender is not judged against itself (B's own exit in A's matrix
    // when A and B are one model): both outputs would be one stored output.
    const sameModel = resolve(job.a.modelPath) === resolve(job.b.modelPath)
    const exitsOfA = (job.matrix ? sa.info.exits : [job.a.exit ?? sa.info.numLayers]).filter((exit) => !(sameModel && exit === contenderB.exit))
    if (exitsOfA.length === 0) throw new EvaluationSetupError(`A and B are the same contender (${job.b.modelPath}@${contenderB.exit}): choose another exit or model.`)

    // Work units: B's answers, then per exit of A its answers and its judgements.
    const n = items.length
    const overallTotal = n * (1 + 2 * exitsOfA.length)
    let overallDone = 0
    let judgedSoFar = 0
    const work: EvaluationWork = { answersGenerated: 0, answersReused: 0, judgementsMade: 0, judgementsReused: 0 }
    const estimate = new WorkEstimate<'answer' | 'judge'>()
    const remaining = () => {
      const judgementsLeft = n * exitsOfA.length - judgedSoFar
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
    await evaluations.generate(items, contenderB, sb, decoding, reporter(`answers of ${job.b.modelPath}@${contenderB.exit}`, 'answer'))
    const rows: EvaluationResult['rows'] = []
    for (const exit of exitsOfA) {
      const contenderA: Contender = { modelPath: job.a.modelPath, exit }
      await evaluations.generate(items, contenderA, sa, decoding, reporter(`answers of ${job.a.modelPath}@${exit}`, 'answer'))
      const result = await evaluations.judge(items, contenderA, contenderB, decoding, judge, reporter(`judging @${exit}`, 'judge'))
      rows.push({ exit, ...result, tokensPerSecond: evaluations.speed(items, contenderA, decoding) })
    }
    return { setId, work, judge: judge.name, b: `${job.b.modelPath}@${contenderB.exit}`, rows }
  } finally {
    for (const s of sessions.values()) await s.release()
  }
}
