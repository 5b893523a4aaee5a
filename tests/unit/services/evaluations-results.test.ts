import { describe, expect, it } from 'vitest'
import { evaluationResults } from '../../../src-main/services/evaluations/results'
import type { EvalItem, Generation, Model, Store, Verdict } from '../../../src-main/store'
import { addModel, memoryStore } from '../store/helpers'

const greedy = { maxNewTokens: 8, greedy: true }

/** A set of `n` items, a sorted model S (exits 2, 4, 8) and a baseline model F. */
function fixture(n: number) {
  const store = memoryStore()
  const set = store.evals.importSet('set', 'plain', Array.from({ length: n }, (_, i) => ({ instruction: `q${i}`, reference: `r${i}` })))
  const items = store.evals.items(set.id)
  const sorted = addModel(store, { name: 'sorted', path: '/m/sorted' })
  const full = addModel(store, { name: 'full', path: '/m/full', exits: [8] })
  return { store, set, items, sorted, full }
}

function answer(
  store: Store,
  item: EvalItem,
  model: Model,
  exit: number,
  tokensPerSecond: number | null = null,
  decoding: Record<string, string | number | boolean> = greedy,
  stats: { tokens: number; drafted: number; accepted: number; exitSum: number } | null = null,
): Generation {
  return store.evals.recordGeneration({ evalItemId: item.id, modelId: model.id, exit, decoding, output: `${model.name}@${exit}`, tokensPerSecond, stats })
}

function verdict(store: Store, a: Generation, b: Generation, ab: Verdict, ba: Verdict, judge = 'reference') {
  store.evals.recordComparison({ generationAId: a.id, generationBId: b.id, judge, ab: { verdict: ab }, ba: { verdict: ba } })
}

describe('evaluation results from stored verdicts', () => {
  it('tallies W/L/T with a disagreement between the orders counting half each way, and score = (W − L) / N', () => {
    const { store, set, items, sorted, full } = fixture(5)
    // A wins both orders, A loses both, both orders tie, A wins one order and ties the other, A wins one and loses the other.
    const verdicts: [Verdict, Verdict][] = [['1', '2'], ['2', '1'], ['Tie', 'Tie'], ['1', 'Tie'], ['1', '1']]
    verdicts.forEach(([ab, ba], i) => verdict(store, answer(store, items[i]!, sorted, 4), answer(store, items[i]!, full, 8), ab, ba))

    const [pair] = evaluationResults(store, set.id).pairs
    // Wins: 1 + 0 + 0 + 0.5 + 0.5; losses: 0 + 1 + 0 + 0 + 0.5; ties: 0 + 0 + 1 + 0.5 + 0.
    expect(pair).toMatchObject({ judge: 'reference', a: { modelName: 'sorted', exit: 4 }, b: { modelName: 'full', exit: 8 }, maxNewTokens: 8 })
    expect([pair!.wins, pair!.losses, pair!.ties, pair!.n]).toEqual([2, 1.5, 1.5, 5])
    expect(pair!.score).toBeCloseTo(0.1, 12)
  })

  it('draws every exit of A against the full model B as a matrix, with each exit’s mean speed', () => {
    const { store, set, items, sorted, full } = fixture(2)
    for (const item of items) {
      const b = answer(store, item, full, 8, 10)
      verdict(store, answer(store, item, sorted, 2, 40), b, '1', '2')
      verdict(store, answer(store, item, sorted, 4, 20), b, '2', '1')
      verdict(store, answer(store, item, sorted, 8, item.idx === 0 ? 8 : 12), b, 'Tie', 'Tie')
    }

    const results = evaluationResults(store, set.id)
    expect(results.matrices).toHaveLength(1)
    const [matrix] = results.matrices
    expect(matrix!.model).toMatchObject({ modelName: 'sorted', modelPath: '/m/sorted' })
    expect(matrix!.opponents.map((o) => `${o.modelName}@${o.exit}`)).toEqual(['full@8'])
    expect(matrix!.rows.map((r) => [r.exit, r.tokensPerSecond, r.cells[0]?.score])).toEqual([
      [2, 40, 1],
      [4, 20, -1],
      [8, 10, 0],
    ])
    expect(results.contenders.find((c) => c.modelName === 'full')).toMatchObject({ exit: 8, outputs: 2, tokensPerSecond: 10 })
  })

  it("leaves out the CLI's adapter answers, which the app would otherwise show as the base model's", () => {
    const { store, set, items, sorted, full } = fixture(2)
    const withAdapter = { ...greedy, adapter: '/runs/dylora', adapterSha256: 'ab12', adapterRank: 2 }
    for (const item of items) {
      const b = answer(store, item, full, 8, 10)
      verdict(store, answer(store, item, sorted, 4, 20), b, '1', '2')
      // The same model and exit with an adapter merged in: another contender, and it lost.
      verdict(store, answer(store, item, sorted, 4, 99, withAdapter), b, '2', '1')
    }
    const results = evaluationResults(store, set.id)
    expect(results.pairs).toHaveLength(1)
    expect(results.pairs[0]).toMatchObject({ a: { modelName: 'sorted', exit: 4 }, wins: 2, losses: 0, n: 2 })
    expect(results.contenders.filter((c) => c.modelName === 'sorted')).toEqual([expect.objectContaining({ exit: 4, outputs: 2, tokensPerSecond: 20 })])
    expect(results.matrices[0]!.rows.map((r) => [r.exit, r.tokensPerSecond, r.cells[0]?.score])).toEqual([[4, 20, 1]])
  })

  it('joins a pair stored the other way round (a vote shown B first) to the same pair, mirrored', () => {
    const { store, set, items, sorted, full } = fixture(2)
    const [x, y] = items
    verdict(store, answer(store, x!, sorted, 4), answer(store, x!, full, 8), '1', '2', 'human')
    // Stored with full as A: full lost both orders, so sorted won.
    verdict(store, answer(store, y!, full, 8), answer(store, y!, sorted, 4), '2', '1', 'human')

    const { pairs } = evaluationResults(store, set.id)
    expect(pairs).toHaveLength(1)
    expect(pairs[0]).toMatchObject({ a: { modelName: 'sorted' }, b: { modelName: 'full' }, wins: 2, losses: 0, ties: 0, n: 2, score: 1 })
  })

  it('keeps judges and answer lengths apart, and filters by judge on request', () => {
    const { store, set, items, sorted, full } = fixture(1)
    const [item] = items
    const a = answer(store, item!, sorted, 4)
    const b = answer(store, item!, full, 8)
    verdict(store, a, b, '1', '2', 'reference')
    verdict(store, a, b, '2', '1', 'human')
    verdict(store, answer(store, item!, sorted, 4, null, { maxNewTokens: 16, greedy: true }), answer(store, item!, full, 8, null, { maxNewTokens: 16, greedy: true }), 'Tie', 'Tie')

    const all = evaluationResults(store, set.id)
    expect(all.judges).toEqual(['reference', 'human'])
    expect(all.pairs.map((p) => [p.judge, p.maxNewTokens, p.score])).toEqual([
      ['reference', 8, 1],
      ['human', 8, -1],
      ['reference', 16, 0],
    ])
    expect(all.matrices.map((m) => [m.judge, m.maxNewTokens])).toEqual([
      ['reference', 8],
      ['human', 8],
      ['reference', 16],
    ])

    const human = evaluationResults(store, set.id, 'human')
    expect(human.judges).toEqual(['reference', 'human'])
    expect(human.pairs.map((p) => p.judge)).toEqual(['human'])
  })

  it('leaves a cell empty where an exit never met an opponent', () => {
    const { store, set, items, sorted, full } = fixture(1)
    const [item] = items
    verdict(store, answer(store, item!, sorted, 2), answer(store, item!, full, 8), '1', '2')
    verdict(store, answer(store, item!, sorted, 4), answer(store, item!, sorted, 8), '1', '2')

    const [matrix] = evaluationResults(store, set.id).matrices
    expect(matrix!.opponents.map((o) => `${o.modelName}@${o.exit}`)).toEqual(['full@8', 'sorted@8'])
    expect(matrix!.rows.map((r) => r.cells.map((c) => c?.score ?? null))).toEqual([
      [1, null],
      [null, 1],
    ])
  })

  it('keeps int4 and fp32 answers of one exit, and Exact and Auto answers, apart: each its own row, speed and cells', () => {
    const { store, set, items, sorted, full } = fixture(2)
    // The decoding keys `sorted eval` and the app both record (answerVariant).
    const int4 = { ...greedy, weights: 'int4' }
    const exact = { ...greedy, mode: 'exact' }
    const auto = { ...greedy, mode: 'auto', tau: 0.5 }
    for (const item of items) {
      const b = answer(store, item, full, 8, 10)
      verdict(store, answer(store, item, sorted, 4, 20), b, '1', '2')
      verdict(store, answer(store, item, sorted, 4, 50, int4), b, '2', '1')
      verdict(store, answer(store, item, sorted, 8, 30, exact, { tokens: 4, drafted: 4, accepted: 3, exitSum: 32 }), b, 'Tie', 'Tie')
      verdict(store, answer(store, item, sorted, 8, 40, auto, { tokens: 4, drafted: 0, accepted: 0, exitSum: 10 }), b, '1', '2')
      // The int4 B at the same exit is another opponent.
      verdict(store, answer(store, item, sorted, 4, 20), answer(store, item, full, 8, 25, int4), '2', '1')
    }

    const results = evaluationResults(store, set.id)
    expect(results.pairs).toHaveLength(5)
    const [matrix] = results.matrices
    expect(matrix!.opponents.map((o) => [o.exit, o.precision, o.mode])).toEqual([
      [8, 'fp32', null],
      [8, 'int4', null],
    ])
    expect(matrix!.rows.map((r) => [r.exit, r.precision, r.mode, r.tokensPerSecond, r.cells.map((c) => c?.score ?? null)])).toEqual([
      [4, 'fp32', null, 20, [1, -1]],
      [4, 'int4', null, 50, [-1, null]],
      [8, 'fp32', { kind: 'exact' }, 30, [0, null]],
      [8, 'fp32', { kind: 'auto', tau: 0.5 }, 40, [1, null]],
    ])
    expect(matrix!.rows[2]!.acceptanceRate).toBeCloseTo(0.75, 12)
    expect(matrix!.rows[3]!.meanExit).toBeCloseTo(2.5, 12)
    const speeds = results.contenders.filter((c) => c.modelName === 'sorted').map((c) => [c.exit, c.precision, c.mode?.kind ?? 'exit', c.outputs, c.tokensPerSecond])
    expect(speeds).toEqual(
      expect.arrayContaining([
        [4, 'fp32', 'exit', 2, 20],
        [4, 'int4', 'exit', 2, 50],
        [8, 'fp32', 'exact', 2, 30],
        [8, 'fp32', 'auto', 2, 40],
      ]),
    )
    expect(speeds).toHaveLength(4)
  })

  it('reports a set that does not exist', () => {
    const store = memoryStore()
    expect(() => evaluationResults(store, 'nope')).toThrow(expect.objectContaining({ code: 'not_found' }))
  })
})
