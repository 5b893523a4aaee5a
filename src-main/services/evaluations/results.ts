/**
 * Results of an evaluation set, recomputed from the verdicts in the
 * database whenever asked: W/L/T and score per pair of contenders and judge
 * (with the same combine/tally as the evaluation itself), each contender's
 * measured speed (and Exact's acceptance, Auto's mean exit), and the "every
 * contender of A vs each opponent" matrices that the batch page draws as a
 * table and a quality-vs-speed plot.
 *
 * A contender is a model at an exit in its weights and decoding mode, read
 * from the decoding each answer was recorded with (answerVariant, the keys
 * the CLI and the app both write): int4 and fp32 answers at one exit, or an
 * Exact one, are different contenders and are never pooled.
 */
import type { ContenderResult, EvaluationResults, PairResult, ResultContender, ResultMatrix } from '../../api/contract'
import { ApiError } from '../../api/errors'
import { combine, tally, type Outcome } from '../../engine/judge/verdicts'
import type { ContenderOutputs, JsonObject, Store, StoredContender } from '../../store'
import { answerVariantOf, isAdapterAnswer } from './answer-variant'

/** Stable text for a decoding config (flat objects; key order does not matter). */
function decodingKey(decoding: JsonObject): string {
  return JSON.stringify(decoding, Object.keys(decoding).sort())
}

function maxNewTokensOf(decoding: JsonObject): number | null {
  const value = decoding['maxNewTokens']
  return typeof value === 'number' && Number.isInteger(value) ? value : null
}

/** A stored contender with the decoding of its answers (in the store's comparisons and output sums). */
type Answered = StoredContender & { decoding: JsonObject }

/** What tells contenders apart: model, exit and the whole decoding (answer length, weights, mode, anything else). */
const answeredKey = (c: Answered) => JSON.stringify([c.modelId, c.exit, decodingKey(c.decoding)])
/** The same without the answer length: one contender across the lengths it answered at. */
const contenderKey = (c: ResultContender) => JSON.stringify([c.modelId, c.exit, c.precision, c.blockSize ?? null, c.mode])

/** B's outcome is A's mirrored. */
const flip = (o: Outcome): Outcome => ({ win: o.loss, loss: o.win, tie: o.tie })

interface PairGroup {
  judge: string
  a: Answered
  b: Answered
  outcomes: Outcome[]
}

/** Exact's acceptance and Auto's mean exit over the outputs' summed stats. */
function modeFigures(mode: ResultContender['mode'], stats: ContenderOutputs['stats']): Pick<ContenderResult, 'acceptanceRate' | 'meanExit'> {
  if (mode?.kind === 'exact') return { acceptanceRate: stats && stats.drafted > 0 ? stats.accepted / stats.drafted : null }
  if (mode?.kind === 'auto') return { meanExit: stats && stats.tokens > 0 ? stats.exitSum / stats.tokens : null }
  return {}
}

export function evaluationResults(store: Store, setId: string, judge?: string): EvaluationResults {
  const set = store.evals.setSummaries().find((s) => s.id === setId)
  if (!set) throw new ApiError('not_found', `No evaluation set ${setId}.`)

  const models = new Map<string, { modelName: string; modelPath: string }>()
  const ref = (c: Answered): ResultContender => {
    let model = models.get(c.modelId)
    if (!model) {
      const row = store.models.get(c.modelId)
      model = { modelName: row?.name ?? c.modelId, modelPath: row?.path ?? '' }
      models.set(c.modelId, model)
    }
    return { modelId: c.modelId, ...model, exit: c.exit, ...answerVariantOf(c.decoding) }
  }

  const comparisons = store.evals.judgedComparisons(setId)
  const judges = [...new Set(comparisons.map((c) => c.judge))]

  // One group per judge and pair of contenders (each with its decoding). A
  // pair stored with A and B the other way round (a human vote shown in the
  // other order) joins the group already there, its outcome mirrored.
  const groups = new Map<string, PairGroup>()
  for (const c of comparisons) {
    if (judge !== undefined && c.judge !== judge) continue
    // The CLI's adapter answers would read as the base model's here: left out (isAdapterAnswer).
    if (isAdapterAnswer(c.a.decoding) || isAdapterAnswer(c.b.decoding)) continue
    const key = (x: Answered, y: Answered) => JSON.stringify([c.judge, answeredKey(x), answeredKey(y)])
    const outcome = combine(c.ab.verdict, c.ba.verdict)
    const forward = groups.get(key(c.a, c.b))
    const reverse = groups.get(key(c.b, c.a))
    if (forward) forward.outcomes.push(outcome)
    else if (reverse) reverse.outcomes.push(flip(outcome))
    else groups.set(key(c.a, c.b), { judge: c.judge, a: c.a, b: c.b, outcomes: [outcome] })
  }

  const pairs: PairResult[] = [...groups.values()].map((g) => ({
    judge: g.judge,
    a: ref(g.a),
    b: ref(g.b),
    maxNewTokens: maxNewTokensOf(g.a.decoding),
    ...tally(g.outcomes),
  }))

  const answered = store.evals.contenderOutputs(setId).filter((c) => !isAdapterAnswer(c.decoding))
  const contenders: ContenderResult[] = answered.map((c) => {
    const contender = ref(c)
    return {
      ...contender,
      maxNewTokens: maxNewTokensOf(c.decoding),
      outputs: c.outputs,
      tokensPerSecond: c.tokensPerSecond,
      ...modeFigures(contender.mode, c.stats),
    }
  })
  const measured = new Map(contenders.map((c) => [JSON.stringify([contenderKey(c), c.maxNewTokens]), c]))
  const measuredOf = (c: ResultContender, maxNewTokens: number | null) => measured.get(JSON.stringify([contenderKey(c), maxNewTokens]))

  return { set, judges, contenders, pairs, matrices: matrices(pairs, measuredOf) }
}

const PRECISION_ORDER = ['fp32', 'int8', 'int4'] as const

/** Rows in reading order: fixed exits by exit (fp32, int8, int4 at each), then Exact, then Auto by τ. */
function rowOrder(x: ResultContender, y: ResultContender): number {
  const modeRank = (c: ResultContender) => (c.mode === null ? 0 : c.mode.kind === 'exact' ? 1 : 2)
  const tau = (c: ResultContender) => (c.mode?.kind === 'auto' ? c.mode.tau : 0)
  return (
    modeRank(x) - modeRank(y) ||
    x.exit - y.exit ||
    PRECISION_ORDER.indexOf(x.precision) - PRECISION_ORDER.indexOf(y.precision) ||
    (x.blockSize ?? 0) - (y.blockSize ?? 0) ||
    tau(x) - tau(y)
  )
}

/**
 * Pairs grouped by judge, answer length and model A: rows are the
 * contenders of A that were judged (each exit in each precision, and each
 * mode), columns every opponent any of them met. Each row's speed is its own
 * answers' at that length.
 */
function matrices(
  pairs: readonly PairResult[],
  measuredOf: (c: ResultContender, maxNewTokens: number | null) => ContenderResult | undefined,
): ResultMatrix[] {
  const byModel = new Map<string, PairResult[]>()
  for (const p of pairs) {
    const key = JSON.stringify([p.judge, p.maxNewTokens, p.a.modelId])
    const list = byModel.get(key)
    if (list) list.push(p)
    else byModel.set(key, [p])
  }
  return [...byModel.values()].map((group) => {
    const first = group[0]!
    const opponents = [...new Map(group.map((p) => [contenderKey(p.b), p.b])).values()].sort(
      (x, y) => x.modelName.localeCompare(y.modelName) || x.modelPath.localeCompare(y.modelPath) || rowOrder(x, y),
    )
    const contendersOfA = [...new Map(group.map((p) => [contenderKey(p.a), p.a])).values()].sort(rowOrder)
    const rows = contendersOfA.map((a) => {
      const measured = measuredOf(a, first.maxNewTokens)
      return {
        exit: a.exit,
        precision: a.precision,
        ...(a.blockSize !== undefined ? { blockSize: a.blockSize } : {}),
        mode: a.mode,
        tokensPerSecond: measured?.tokensPerSecond ?? null,
        ...(measured?.acceptanceRate !== undefined ? { acceptanceRate: measured.acceptanceRate } : {}),
        ...(measured?.meanExit !== undefined ? { meanExit: measured.meanExit } : {}),
        cells: opponents.map((o) => {
          const p = group.find((q) => contenderKey(q.a) === contenderKey(a) && contenderKey(q.b) === contenderKey(o))
          return p ? { wins: p.wins, losses: p.losses, ties: p.ties, n: p.n, score: p.score } : null
        }),
      }
    })
    return {
      judge: first.judge,
      maxNewTokens: first.maxNewTokens,
      model: { modelId: first.a.modelId, modelName: first.a.modelName, modelPath: first.a.modelPath },
      opponents,
      rows,
    }
  })
}
