/**
 * Results of an evaluation set, recomputed from the verdicts in the
 * database whenever asked: W/L/T and score per pair of contenders and judge
 * (with the same combine/tally as the evaluation itself), each contender's
 * measured speed, and the "every exit of A vs each opponent" matrices that
 * the batch page draws as a table and a quality-vs-speed plot.
 */
import type { ContenderRef, EvaluationResults, PairResult, ResultMatrix } from '../../api/contract'
import { ApiError } from '../../api/errors'
import { combine, tally, type Outcome } from '../../engine/judge/verdicts'
import type { JsonObject, Store, StoredContender } from '../../store'

/** Stable text for a decoding config (flat objects; key order does not matter). */
function decodingKey(decoding: JsonObject): string {
  return JSON.stringify(decoding, Object.keys(decoding).sort())
}

function maxNewTokensOf(decoding: JsonObject): number | null {
  const value = decoding['maxNewTokens']
  return typeof value === 'number' && Number.isInteger(value) ? value : null
}

const contenderKey = (c: StoredContender) => `${c.modelId}@${c.exit}`

/** B's outcome is A's mirrored. */
const flip = (o: Outcome): Outcome => ({ win: o.loss, loss: o.win, tie: o.tie })

interface PairGroup {
  judge: string
  a: StoredContender
  b: StoredContender
  decoding: JsonObject
  outcomes: Outcome[]
}

export function evaluationResults(store: Store, setId: string, judge?: string): EvaluationResults {
  const set = store.evals.setSummaries().find((s) => s.id === setId)
  if (!set) throw new ApiError('not_found', `No evaluation set ${setId}.`)

  const models = new Map<string, { modelName: string; modelPath: string }>()
  const ref = (c: StoredContender): ContenderRef => {
    let model = models.get(c.modelId)
    if (!model) {
      const row = store.models.get(c.modelId)
      model = { modelName: row?.name ?? c.modelId, modelPath: row?.path ?? '' }
      models.set(c.modelId, model)
    }
    return { modelId: c.modelId, ...model, exit: c.exit }
  }

  const comparisons = store.evals.judgedComparisons(setId)
  const judges = [...new Set(comparisons.map((c) => c.judge))]

  // One group per judge, decoding and pair of contenders. A pair stored with
  // A and B the other way round (a human vote shown in the other order) joins
  // the group already there, its outcome mirrored.
  const groups = new Map<string, PairGroup>()
  for (const c of comparisons) {
    if (judge !== undefined && c.judge !== judge) continue
    const decA = decodingKey(c.a.decoding)
    const decB = decodingKey(c.b.decoding)
    const key = (x: StoredContender, dx: string, y: StoredContender, dy: string) => JSON.stringify([c.judge, contenderKey(x), dx, contenderKey(y), dy])
    const outcome = combine(c.ab.verdict, c.ba.verdict)
    const forward = groups.get(key(c.a, decA, c.b, decB))
    const reverse = groups.get(key(c.b, decB, c.a, decA))
    if (forward) forward.outcomes.push(outcome)
    else if (reverse) reverse.outcomes.push(flip(outcome))
    else groups.set(key(c.a, decA, c.b, decB), { judge: c.judge, a: c.a, b: c.b, decoding: c.a.decoding, outcomes: [outcome] })
  }

  const pairs: PairResult[] = [...groups.values()].map((g) => ({
    judge: g.judge,
    a: ref(g.a),
    b: ref(g.b),
    maxNewTokens: maxNewTokensOf(g.decoding),
    ...tally(g.outcomes),
  }))

  const contenders = store.evals.contenderOutputs(setId).map((c) => ({ ...ref(c), outputs: c.outputs, tokensPerSecond: c.tokensPerSecond }))
  const speed = new Map(contenders.map((c) => [contenderKey(c), c.tokensPerSecond]))

  return { set, judges, contenders, pairs, matrices: matrices(pairs, (c) => speed.get(contenderKey(c)) ?? null) }
}

/**
 * Pairs grouped by judge, answer length and model A: rows are the exits of A
 * that were judged, columns every opponent any of them met.
 */
function matrices(pairs: readonly PairResult[], speedOf: (c: ContenderRef) => number | null): ResultMatrix[] {
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
      (x, y) => x.modelName.localeCompare(y.modelName) || x.modelPath.localeCompare(y.modelPath) || x.exit - y.exit,
    )
    const exits = [...new Set(group.map((p) => p.a.exit))].sort((x, y) => x - y)
    const rows = exits.map((exit) => ({
      exit,
      tokensPerSecond: speedOf({ ...first.a, exit }),
      cells: opponents.map((o) => {
        const p = group.find((q) => q.a.exit === exit && contenderKey(q.b) === contenderKey(o))
        return p ? { wins: p.wins, losses: p.losses, ties: p.ties, n: p.n, score: p.score } : null
      }),
    }))
    return {
      judge: first.judge,
      maxNewTokens: first.maxNewTokens,
      model: { modelId: first.a.modelId, modelName: first.a.modelName, modelPath: first.a.modelPath },
      opponents,
      rows,
    }
  })
}
