import { describe, expect, it } from 'vitest'
import {
  NotFoundError,
  migrate,
  migrations,
  type EvalItem,
  type Generation,
  type JsonObject,
  type Model,
  type NewEvalItem,
  type Store,
  type Verdict,
} from '../../../src-main/store'
import Database from 'better-sqlite3'
import { addModel, manualClock, memoryStore, open, tempDbPath } from './helpers'

const items: NewEvalItem[] = [
  { instruction: 'Name a primary colour.', reference: 'Red.' },
  { instruction: 'Translate to French.', input: 'Good morning', reference: 'Bonjour' },
  { instruction: 'Write a haiku about rain.' },
]

const greedy = { temperature: 0, maxNewTokens: 256 }

/** An imported set and one model, ready for generations. */
function evalFixture(store: Store) {
  const set = store.evals.importSet('PandaLM test', 'pandalm', items)
  const [first, second] = store.evals.items(set.id)
  return { set, first: first!, second: second!, model: addModel(store) }
}

/** Records `output` as what `model` at `exit` answered to `item`. */
function answer(store: Store, item: EvalItem, model: Model, exit: number, output: string, decoding: JsonObject = greedy) {
  return store.evals.recordGeneration({ evalItemId: item.id, modelId: model.id, exit, decoding, output })
}

/** Records `who`'s verdicts on A vs B: `ab` with A shown first, `ba` with B first. */
function judge(store: Store, a: Generation, b: Generation, who: string, ab: Verdict, ba: Verdict) {
  return store.evals.recordComparison({
    generationAId: a.id,
    generationBId: b.id,
    judge: who,
    ab: { verdict: ab },
    ba: { verdict: ba },
  })
}

describe('EvalRepository sets', () => {
  it('imports a set with its items in file order', () => {
    const clock = manualClock()
    const store = memoryStore({ now: clock.now })

    const set = store.evals.importSet('PandaLM test', 'pandalm', items)

    expect(set).toMatchObject({ name: 'PandaLM test', format: 'pandalm', itemCount: 3, createdAt: clock.now() })
    expect(store.evals.items(set.id).map((i) => [i.idx, i.instruction, i.input, i.reference])).toEqual([
      [0, 'Name a primary colour.', '', 'Red.'],
      [1, 'Translate to French.', 'Good morning', 'Bonjour'],
      [2, 'Write a haiku about rain.', '', null],
    ])
  })

  it('imports nothing when one item is invalid', () => {
    const store = memoryStore()
    const broken = [...items, { instruction: null as unknown as string }]

    expect(() => store.evals.importSet('Broken', 'alpaca-json', broken)).toThrow(/NOT NULL/)
    expect(store.evals.sets()).toEqual([])
  })

  it('lists sets newest first', () => {
    const clock = manualClock()
    const store = memoryStore({ now: clock.now })
    store.evals.importSet('older', 'alpaca-json', items)
    clock.advance()
    const newer = store.evals.importSet('newer', 'alpaca-json', items)

    expect(store.evals.sets().map((s) => s.name)).toEqual(['newer', 'older'])
    expect(store.evals.getSet(newer.id)).toEqual(newer)
  })
})

describe('EvalRepository generations', () => {
  it('records an output for a contender', () => {
    const store = memoryStore()
    const { first, model } = evalFixture(store)

    const generation = store.evals.recordGeneration({
      evalItemId: first.id,
      modelId: model.id,
      exit: 4,
      decoding: greedy,
      output: 'Blue.',
      tokensPerSecond: 120,
    })

    expect(generation).toMatchObject({ evalItemId: first.id, modelId: model.id, exit: 4, decoding: greedy, output: 'Blue.' })
    expect(store.evals.generations(first.id)).toEqual([generation])
    expect(generation.stats).toBeNull()
  })

  it('keeps what decoding measured on an output (stats), found again with it', () => {
    const store = memoryStore()
    const { first, model } = evalFixture(store)
    const stats = { tokens: 6, drafted: 5, accepted: 4, exitSum: 18 }
    const exact = { ...greedy, mode: 'exact' }
    store.evals.recordGeneration({ evalItemId: first.id, modelId: model.id, exit: 4, decoding: exact, output: 'Blue.', stats })
    expect(store.evals.findGeneration(first.id, { modelId: model.id, exit: 4 }, exact)?.stats).toEqual(stats)
  })

  it('a database from before generation stats gains the column: its outputs have none', () => {
    const path = tempDbPath()
    const older = new Database(path)
    // The schema as it was just before that migration (later ones build on it).
    const stats = migrations.find((m) => m.name === 'generation stats')!.version
    migrate(older, migrations.filter((m) => m.version < stats), path)
    older.exec(`
      INSERT INTO models (id, name, architecture, path, source, num_layers, created_at, updated_at) VALUES ('m', 'old', 'llama', '/models/old', 'imported', 2, 1, 1);
      INSERT INTO eval_sets (id, name, format, item_count, created_at) VALUES ('s', 'set', 'jsonl', 1, 1);
      INSERT INTO eval_items (id, eval_set_id, idx, instruction, input, reference) VALUES ('i', 's', 0, 'say hi', '', NULL);
      INSERT INTO generations (id, eval_item_id, model_id, exit, decoding, output, tokens_per_second, created_at) VALUES ('g', 'i', 'm', 2, '{}', 'hi', NULL, 1);
    `)
    older.close()

    const newer = open(path)

    expect(newer.evals.generations('i').map((g) => [g.output, g.stats])).toEqual([['hi', null]])
  })

  it('keeps the first output when a rerun records the same item, contender and decoding again', () => {
    const store = memoryStore()
    const { first, model } = evalFixture(store)
    const original = answer(store, first, model, 4, 'Blue.')

    // Same config written with its keys in another order.
    const rerun = answer(store, first, model, 4, 'Blue!', { maxNewTokens: 256, temperature: 0 })

    expect(rerun).toEqual(original)
    expect(store.evals.generations(first.id)).toHaveLength(1)
  })

  it('keeps outputs of different exits of the same model apart', () => {
    const store = memoryStore()
    const { first, model } = evalFixture(store)

    answer(store, first, model, 2, 'Red')
    answer(store, first, model, 8, 'Red.')

    expect(store.evals.generations(first.id).map((g) => g.exit)).toEqual([2, 8])
  })

  it('finds a stored output so a rerun can skip generating it', () => {
    const store = memoryStore()
    const { first, model } = evalFixture(store)
    const stored = answer(store, first, model, 4, 'Blue.')
    const reordered = { maxNewTokens: 256, temperature: 0 }

    expect(store.evals.findGeneration(first.id, { modelId: model.id, exit: 4 }, reordered)).toEqual(stored)
    expect(store.evals.findGeneration(first.id, { modelId: model.id, exit: 2 }, greedy)).toBeUndefined()
  })
})

describe('EvalRepository comparisons', () => {
  /** Two contenders' answers to the first item: the model cut at 2 layers and in full. */
  function pair(store: Store) {
    const fixture = evalFixture(store)
    const { first, model } = fixture
    const shallow = answer(store, first, model, 2, 'Red')
    const deep = answer(store, first, model, 8, 'Red is a primary colour.')
    return { ...fixture, shallow, deep }
  }

  it('stores a judge’s verdicts in both presentation orders', () => {
    const store = memoryStore()
    const { set, first, shallow, deep } = pair(store)

    const comparison = store.evals.recordComparison({
      generationAId: shallow.id,
      generationBId: deep.id,
      judge: 'pandalm:pandalm-7b',
      ab: { verdict: '2', reason: 'Response 2 is complete.', reference: 'Red.' },
      ba: { verdict: '1', reason: 'Response 1 is complete.' },
    })

    expect(comparison).toMatchObject({
      evalItemId: first.id,
      judge: 'pandalm:pandalm-7b',
      ab: { verdict: '2', reason: 'Response 2 is complete.', reference: 'Red.' },
      ba: { verdict: '1', reason: 'Response 1 is complete.', reference: null },
    })
    expect(store.evals.comparisons(set.id)).toEqual([comparison])
  })

  it('replaces a judge’s earlier verdicts on the same pair instead of duplicating them', () => {
    const store = memoryStore()
    const { set, shallow, deep } = pair(store)
    judge(store, shallow, deep, 'human', 'Tie', 'Tie')

    judge(store, shallow, deep, 'human', '2', '1')

    expect(store.evals.comparisons(set.id).map((c) => [c.ab.verdict, c.ba.verdict])).toEqual([['2', '1']])
  })

  it('keeps different judges’ verdicts on the same pair side by side', () => {
    const store = memoryStore()
    const { set, shallow, deep } = pair(store)

    judge(store, shallow, deep, 'reference', '2', '1')
    judge(store, shallow, deep, 'human', '2', '1')

    expect(store.evals.comparisons(set.id).map((c) => c.judge)).toEqual(['reference', 'human'])
  })

  it('refuses a verdict other than 1, 2, Tie', () => {
    const store = memoryStore()
    const { shallow, deep } = pair(store)

    expect(() =>
      store.evals.recordComparison({
        generationAId: shallow.id,
        generationBId: deep.id,
        judge: 'human',
        ab: { verdict: 'A' as never },
        ba: { verdict: '1' },
      }),
    ).toThrow(/CHECK constraint/)
  })

  it('refuses to compare outputs for different items', () => {
    const store = memoryStore()
    const { set, second, model, shallow } = pair(store)
    const other = answer(store, second, model, 8, 'Bonjour')

    expect(() => judge(store, shallow, other, 'human', '1', '2')).toThrow(/different eval items/)
    expect(store.evals.comparisons(set.id)).toEqual([])
  })

  it('reports comparing a generation that does not exist', () => {
    const store = memoryStore()
    const { shallow } = pair(store)

    const gone = { ...shallow, id: 'gone' }

    expect(() => judge(store, shallow, gone, 'human', '1', '2')).toThrow(new NotFoundError('generation', 'gone'))
  })

  it('deletes a set with its items, generations and comparisons', () => {
    const store = memoryStore()
    const { set, first, shallow, deep } = pair(store)
    judge(store, shallow, deep, 'human', '1', '2')

    expect(store.evals.removeSet(set.id)).toBe(true)
    expect(store.evals.items(set.id)).toEqual([])
    expect(store.evals.generations(first.id)).toEqual([])
    expect(store.evals.comparisons(set.id)).toEqual([])
  })
})

describe('EvalRepository items appended one at a time', () => {
  it('appends an item at the end of a set and counts it', () => {
    const store = memoryStore()
    const set = store.evals.importSet('Compare view', 'compare', [])

    const first = store.evals.appendItem(set.id, { instruction: 'Say hi.' })
    const second = store.evals.appendItem(set.id, { instruction: 'Say ho.', input: 'loudly' })

    expect([first.idx, second.idx]).toEqual([0, 1])
    expect(store.evals.getSet(set.id)?.itemCount).toBe(2)
    expect(store.evals.items(set.id).map((i) => [i.instruction, i.input, i.reference])).toEqual([
      ['Say hi.', '', null],
      ['Say ho.', 'loudly', null],
    ])
    expect(store.evals.getItem(second.id)).toEqual(second)
  })

  it('continues after the last item of an imported set', () => {
    const store = memoryStore()
    const set = store.evals.importSet('PandaLM test', 'pandalm', items)

    expect(store.evals.appendItem(set.id, { instruction: 'One more.' }).idx).toBe(3)
    expect(store.evals.getSet(set.id)?.itemCount).toBe(4)
  })

  it('writes neither item nor count for a set that does not exist, or an invalid item', () => {
    const store = memoryStore()
    const set = store.evals.importSet('Compare view', 'compare', [])

    expect(() => store.evals.appendItem('missing', { instruction: 'x' })).toThrow(new NotFoundError('eval set', 'missing'))
    expect(() => store.evals.appendItem(set.id, { instruction: null as unknown as string })).toThrow(/NOT NULL/)
    expect(store.evals.getSet(set.id)?.itemCount).toBe(0)
    expect(store.evals.items(set.id)).toEqual([])
  })

  it('counts the items that carry a reference, per set', () => {
    const store = memoryStore()
    const set = store.evals.importSet('PandaLM test', 'pandalm', items)

    expect(store.evals.setSummaries()).toEqual([{ ...store.evals.getSet(set.id), withReferences: 2 }])
  })
})

describe('EvalRepository reads for results', () => {
  function judged(store: Store) {
    const { set, first, second, model } = evalFixture(store)
    const other = addModel(store, { name: 'Other', path: '/models/other' })
    const a1 = store.evals.recordGeneration({ evalItemId: first.id, modelId: model.id, exit: 2, decoding: greedy, output: 'Red', tokensPerSecond: 100 })
    const b1 = store.evals.recordGeneration({ evalItemId: first.id, modelId: other.id, exit: 8, decoding: greedy, output: 'Red.', tokensPerSecond: 40 })
    const a2 = store.evals.recordGeneration({ evalItemId: second.id, modelId: model.id, exit: 2, decoding: greedy, output: 'Bonjour', tokensPerSecond: 50 })
    const b2 = store.evals.recordGeneration({ evalItemId: second.id, modelId: other.id, exit: 8, decoding: greedy, output: 'Salut', tokensPerSecond: null })
    return { set, model, other, a1, b1, a2, b2 }
  }

  it('finds a judge’s comparison of two outputs whichever was stored as A', () => {
    const store = memoryStore()
    const { a1, b1 } = judged(store)
    const stored = judge(store, a1, b1, 'human', '1', '2')

    expect(store.evals.findComparison(a1.id, b1.id, 'human')).toEqual(stored)
    expect(store.evals.findComparison(b1.id, a1.id, 'human')).toEqual(stored)
    expect(store.evals.findComparison(a1.id, b1.id, 'reference')).toBeUndefined()
  })

  it('lists comparisons with the contender and decoding behind each side', () => {
    const store = memoryStore()
    const { set, model, other, a1, b1 } = judged(store)
    judge(store, a1, b1, 'reference', '2', '1')

    expect(store.evals.judgedComparisons(set.id)).toEqual([
      expect.objectContaining({ judge: 'reference', a: { modelId: model.id, exit: 2, decoding: greedy }, b: { modelId: other.id, exit: 8, decoding: greedy } }),
    ])
  })

  it('sums up each contender’s outputs on a set with their mean measured speed', () => {
    const store = memoryStore()
    const { set, model, other } = judged(store)

    const byContender = new Map(store.evals.contenderOutputs(set.id).map((c) => [`${c.modelId}@${c.exit}`, c]))
    expect(byContender.get(`${model.id}@2`)).toEqual({ modelId: model.id, exit: 2, decoding: greedy, outputs: 2, tokensPerSecond: 75, stats: null })
    // An output without a measured speed counts as an output but not in the mean.
    expect(byContender.get(`${other.id}@8`)).toEqual({ modelId: other.id, exit: 8, decoding: greedy, outputs: 2, tokensPerSecond: 40, stats: null })
  })

  it('keeps a contender’s outputs in other weights or modes apart, summing the stats recorded with them', () => {
    const store = memoryStore()
    const { set, model } = judged(store)
    const [x, y] = store.evals.items(set.id)
    const exact = { ...greedy, mode: 'exact' }
    for (const [item, speed, drafted, accepted] of [[x!, 10, 8, 6], [y!, 30, 4, 1]] as const) {
      store.evals.recordGeneration({ evalItemId: item.id, modelId: model.id, exit: 2, decoding: exact, output: 'e', tokensPerSecond: speed, stats: { tokens: 5, drafted, accepted, exitSum: 10 } })
    }

    const rows = store.evals.contenderOutputs(set.id).filter((c) => c.modelId === model.id && c.exit === 2)
    expect(rows).toHaveLength(2)
    expect(rows.find((r) => r.decoding['mode'] === 'exact')).toMatchObject({ outputs: 2, tokensPerSecond: 20, stats: { tokens: 10, drafted: 12, accepted: 7, exitSum: 20 } })
    expect(rows.find((r) => r.decoding['mode'] === undefined)).toMatchObject({ outputs: 2, tokensPerSecond: 75, stats: null })
  })

  it('lists one judge’s comparisons newest first, on one set or all', () => {
    const clock = manualClock()
    const store = memoryStore({ now: clock.now })
    const { set, a1, b1, a2, b2 } = judged(store)
    const older = judge(store, a1, b1, 'human', '1', '2')
    clock.advance()
    const newer = judge(store, a2, b2, 'human', 'Tie', 'Tie')
    judge(store, a2, b2, 'reference', '1', '2')
    const elsewhere = store.evals.importSet('Other set', 'plain', [{ instruction: 'x' }])

    expect(store.evals.recentComparisons('human', 10).map((c) => c.id)).toEqual([newer.id, older.id])
    expect(store.evals.recentComparisons('human', 1, set.id).map((c) => [c.id, c.evalSetId])).toEqual([[newer.id, set.id]])
    expect(store.evals.recentComparisons('human', 10, elsewhere.id)).toEqual([])
  })
})
