import { describe, expect, it } from 'vitest'
import { evaluationResults } from '../../../src-main/services/evaluations/results'
import { listVotes, mirror, MIRRORED, pairOutputs, recordVote, VOTED } from '../../../src-main/services/evaluations/human-votes'
import type { Store } from '../../../src-main/store'
import { addModel, manualClock, memoryStore } from '../store/helpers'

const decoding = { maxNewTokens: 8, greedy: true }

/** Two answers to one prompt (a shallow exit and the full model) and a third prompt's answer. */
function fixture(store: Store = memoryStore()) {
  const set = store.evals.importSet('Compare view', 'compare', [])
  const item = store.evals.appendItem(set.id, { instruction: 'Say hi.' })
  const model = addModel(store, { name: 'tiny', path: '/m/tiny' })
  const shallow = store.evals.recordGeneration({ evalItemId: item.id, modelId: model.id, exit: 2, decoding, output: 'hi', tokensPerSecond: 90 })
  const deep = store.evals.recordGeneration({ evalItemId: item.id, modelId: model.id, exit: 8, decoding, output: 'hi there', tokensPerSecond: 30 })
  const elsewhere = store.evals.appendItem(set.id, { instruction: 'Say ho.' })
  const other = store.evals.recordGeneration({ evalItemId: elsewhere.id, modelId: model.id, exit: 8, decoding, output: 'ho', tokensPerSecond: 30 })
  return { store, set, item, shallow, deep, other }
}

describe('human votes', () => {
  it('mirrors a verdict by swapping the responses', () => {
    expect([mirror('1'), mirror('2'), mirror('Tie')]).toEqual(['2', '1', 'Tie'])
  })

  it('stores one vote in both orders: as given for the order shown, mirrored for the other', () => {
    const { store, set, shallow, deep } = fixture()

    const vote = recordVote(store, { firstGenerationId: shallow.id, secondGenerationId: deep.id, verdict: '2' })

    expect(vote).toMatchObject({ a: { generationId: shallow.id, exit: 2, output: 'hi' }, b: { generationId: deep.id, exit: 8 }, ab: '2', ba: '1', votedOrders: ['ab'], preferred: 'b' })
    const [stored] = store.evals.comparisons(set.id)
    expect(stored).toMatchObject({ judge: 'human', ab: { verdict: '2', reason: VOTED }, ba: { verdict: '1', reason: MIRRORED } })
    // Combined, the outcome is exactly the person's choice: the deep answer won.
    expect(evaluationResults(store, set.id).pairs[0]).toMatchObject({ a: { exit: 2 }, b: { exit: 8 }, wins: 0, losses: 1, ties: 0, n: 1 })
  })

  it('replaces the earlier vote when the person votes again on the same pair', () => {
    const { store, set, shallow, deep } = fixture()
    recordVote(store, { firstGenerationId: shallow.id, secondGenerationId: deep.id, verdict: '2' })

    const again = recordVote(store, { firstGenerationId: shallow.id, secondGenerationId: deep.id, verdict: 'Tie' })

    expect(store.evals.comparisons(set.id)).toHaveLength(1)
    expect(again).toMatchObject({ ab: 'Tie', ba: 'Tie', preferred: 'tie' })
    expect(evaluationResults(store, set.id).pairs[0]).toMatchObject({ wins: 0, losses: 0, ties: 1 })
  })

  it('keeps both votes when the pair is shown the other way round later, and a disagreement splits', () => {
    const { store, set, shallow, deep } = fixture()
    recordVote(store, { firstGenerationId: shallow.id, secondGenerationId: deep.id, verdict: '1' })

    // Shown deep first this time, the person prefers deep (response 1).
    const vote = recordVote(store, { firstGenerationId: deep.id, secondGenerationId: shallow.id, verdict: '1' })

    expect(store.evals.comparisons(set.id)).toHaveLength(1)
    expect(vote).toMatchObject({ a: { generationId: shallow.id }, ab: '1', ba: '1', votedOrders: ['ab', 'ba'], preferred: 'split' })
    expect(evaluationResults(store, set.id).pairs[0]).toMatchObject({ wins: 0.5, losses: 0.5, ties: 0, score: 0 })
  })

  it('leaves a vote in the other order alone when the person changes a vote', () => {
    const { store, shallow, deep } = fixture()
    recordVote(store, { firstGenerationId: shallow.id, secondGenerationId: deep.id, verdict: '1' })
    recordVote(store, { firstGenerationId: deep.id, secondGenerationId: shallow.id, verdict: '2' })

    const changed = recordVote(store, { firstGenerationId: shallow.id, secondGenerationId: deep.id, verdict: '2' })

    // ab is the new vote; ba still holds the person's own vote from the other order.
    expect(changed).toMatchObject({ ab: '2', ba: '2', votedOrders: ['ab', 'ba'], preferred: 'split' })
  })

  it('takes the orientation of a judge’s comparison of the same pair, whichever answer was shown first', () => {
    const { store, set, shallow, deep } = fixture()
    store.evals.recordComparison({ generationAId: deep.id, generationBId: shallow.id, judge: 'reference', ab: { verdict: '1' }, ba: { verdict: '2' } })

    const vote = recordVote(store, { firstGenerationId: shallow.id, secondGenerationId: deep.id, verdict: '2' })

    expect(vote).toMatchObject({ a: { generationId: deep.id }, ab: '1', ba: '2', votedOrders: ['ba'], preferred: 'a' })
    const human = evaluationResults(store, set.id, 'human').pairs[0]
    expect(human).toMatchObject({ a: { exit: 8 }, b: { exit: 2 }, wins: 1, losses: 0 })
  })

  it('refuses outputs of different prompts, unknown outputs, and an output against itself', () => {
    const { store, set, shallow, deep, other } = fixture()

    expect(() => recordVote(store, { firstGenerationId: shallow.id, secondGenerationId: other.id, verdict: '1' })).toThrow(/different prompts/)
    expect(() => recordVote(store, { firstGenerationId: shallow.id, secondGenerationId: 'gone', verdict: '1' })).toThrow(
      expect.objectContaining({ code: 'not_found', issues: [{ path: 'secondGenerationId', message: 'no such output' }] }),
    )
    expect(() => recordVote(store, { firstGenerationId: deep.id, secondGenerationId: deep.id, verdict: '1' })).toThrow(/itself/)
    expect(store.evals.comparisons(set.id)).toEqual([])
  })

  it('lists the votes newest first with the prompt and both answers', () => {
    const clock = manualClock()
    const { store, shallow, deep } = fixture(memoryStore({ now: clock.now }))
    const first = recordVote(store, { firstGenerationId: shallow.id, secondGenerationId: deep.id, verdict: '1' })
    clock.advance()
    const item2 = store.evals.appendItem(first.setId, { instruction: 'Count to two.' })
    const [model] = store.models.list()
    const x = store.evals.recordGeneration({ evalItemId: item2.id, modelId: model!.id, exit: 2, decoding, output: '1 2' })
    const y = store.evals.recordGeneration({ evalItemId: item2.id, modelId: model!.id, exit: 8, decoding, output: 'one two' })
    const second = recordVote(store, { firstGenerationId: y.id, secondGenerationId: x.id, verdict: 'Tie' })

    const votes = listVotes(store, { limit: 10 })
    expect(votes.map((v) => [v.comparisonId, v.instruction])).toEqual([
      [second.comparisonId, 'Count to two.'],
      [first.comparisonId, 'Say hi.'],
    ])
    expect(votes[1]).toMatchObject({ a: { modelName: 'tiny', modelPath: '/m/tiny', output: 'hi', tokensPerSecond: 90 }, b: { output: 'hi there' } })
    expect(listVotes(store, { limit: 1 })).toHaveLength(1)
  })

  it('lists a batch’s answers pair by pair, with the person’s vote where given, so the batch can be voted on', () => {
    const store = memoryStore()
    const set = store.evals.importSet('batch', 'plain', [{ instruction: 'q0', reference: 'r0' }, { instruction: 'q1' }, { instruction: 'q2' }])
    const [q0, q1, q2] = store.evals.items(set.id)
    const model = addModel(store, { name: 'sorted', path: '/m/sorted' })
    const base = addModel(store, { name: 'base', path: '/m/base' })
    const say = (item: typeof q0, m: typeof model, exit: number, output: string, d = decoding) =>
      store.evals.recordGeneration({ evalItemId: item!.id, modelId: m.id, exit, decoding: d, output })
    const a0 = say(q0, model, 2, 'a0')
    const b0 = say(q0, base, 8, 'b0')
    say(q1, model, 2, 'a1')
    say(q1, base, 8, 'b1')
    say(q2, model, 2, 'a2') // B never answered q2
    say(q2, base, 8, 'b2 longer', { maxNewTokens: 64, greedy: true })
    recordVote(store, { firstGenerationId: b0.id, secondGenerationId: a0.id, verdict: '2' })

    const items = pairOutputs(store, { setId: set.id, a: { modelId: model.id, exit: 2 }, b: { modelId: base.id, exit: 8 }, maxNewTokens: 8 })

    expect(items.map((i) => [i.instruction, i.reference, i.a.output, i.b.output])).toEqual([
      ['q0', 'r0', 'a0', 'b0'],
      ['q1', null, 'a1', 'b1'],
    ])
    // Shown B first and voted for response 2: the sorted model's answer won. With no judge's
    // comparison of this pair stored, the order of its first vote is the pair's.
    expect(items[0]!.vote).toMatchObject({ votedOrders: ['ab'], a: { generationId: b0.id }, preferred: 'b' })
    expect(items[1]!.vote).toBeNull()
    expect(() => pairOutputs(store, { setId: 'nope', a: { modelId: model.id, exit: 2 }, b: { modelId: base.id, exit: 8 }, maxNewTokens: 8 })).toThrow(/No evaluation set/)
  })

  it('lists the int4 or Exact answers of an exit for review only when asked for those weights and mode', () => {
    const store = memoryStore()
    const set = store.evals.importSet('batch', 'plain', [{ instruction: 'q0' }])
    const [q0] = store.evals.items(set.id)
    const model = addModel(store, { name: 'sorted', path: '/m/sorted' })
    const base = addModel(store, { name: 'base', path: '/m/base', exits: [8] })
    const say = (m: typeof model, exit: number, output: string, d: Record<string, unknown>) =>
      store.evals.recordGeneration({ evalItemId: q0!.id, modelId: m.id, exit, decoding: d as typeof decoding, output })
    say(model, 8, 'fp32', decoding)
    say(model, 8, 'int4', { ...decoding, weights: 'int4' })
    say(model, 8, 'exact', { ...decoding, mode: 'exact' })
    say(base, 8, 'b', decoding)
    const outputOfA = (a: Parameters<typeof pairOutputs>[1]['a']) =>
      pairOutputs(store, { setId: set.id, a, b: { modelId: base.id, exit: 8 }, maxNewTokens: 8 }).map((i) => i.a.output)

    expect(outputOfA({ modelId: model.id, exit: 8 })).toEqual(['fp32'])
    expect(outputOfA({ modelId: model.id, exit: 8, precision: 'int4' })).toEqual(['int4'])
    expect(outputOfA({ modelId: model.id, exit: 8, mode: { kind: 'exact' } })).toEqual(['exact'])
    expect(outputOfA({ modelId: model.id, exit: 8, precision: 'int8' })).toEqual([])
  })
  it("never lists the CLI's adapter answer of an exit as the model's own", () => {
    const store = memoryStore()
    const set = store.evals.importSet('batch', 'plain', [{ instruction: 'q0' }])
    const [q0] = store.evals.items(set.id)
    const model = addModel(store, { name: 'sorted', path: '/m/sorted' })
    const base = addModel(store, { name: 'base', path: '/m/base', exits: [8] })
    const say = (m: typeof model, output: string, d: Record<string, unknown>) =>
      store.evals.recordGeneration({ evalItemId: q0!.id, modelId: m.id, exit: 8, decoding: d as typeof decoding, output })
    // Recorded first, so a lookup that did not tell it apart would find it first.
    say(model, 'with adapter', { ...decoding, adapter: '/runs/dylora', adapterSha256: 'ab12', adapterRank: 2 })
    say(base, 'b', decoding)
    const outputOfA = () => pairOutputs(store, { setId: set.id, a: { modelId: model.id, exit: 8 }, b: { modelId: base.id, exit: 8 }, maxNewTokens: 8 }).map((i) => i.a.output)
    expect(outputOfA()).toEqual([])
    say(model, 'fp32', decoding)
    expect(outputOfA()).toEqual(['fp32'])
  })
})
