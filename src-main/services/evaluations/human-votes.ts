/**
 * Human verdicts, given in the compare view. A person sees two outputs in one
 * order and gives one verdict for that order. It is stored like any judge's
 * comparison, in both orders: the shown order holds the vote, the other order
 * holds its mirror, so the combined outcome is exactly the person's choice.
 * If the person is later shown the pair the other way round, that vote takes
 * the other order's place, and a disagreement between the two is kept (it
 * then counts half each way, as for any judge). A new vote in an order
 * already voted replaces the earlier one.
 */
import type { z } from 'zod'
import type { PairItem, PairOutputsRequest, Vote, VoteRequest } from '../../api/contract'
import { ApiError } from '../../api/errors'
import type { Comparison, Generation, Judgement, Store, Verdict } from '../../store'
import { answerVariantOf, isAdapterAnswer, sameVariant } from './answer-variant'

export const HUMAN_JUDGE = 'human'
/** The `reason` of an order the person judged, and of one filled in from the other order. */
export const VOTED = 'human vote'
export const MIRRORED = 'mirrored from the human vote in the other order'

/** The same judgement with the two responses swapped. */
export function mirror(verdict: Verdict): Verdict {
  return verdict === '1' ? '2' : verdict === '2' ? '1' : 'Tie'
}

type Order = 'ab' | 'ba'

export function recordVote(store: Store, request: VoteRequest): Vote {
  return store.transaction(() => {
    const first = generation(store, request.firstGenerationId, 'firstGenerationId')
    const second = generation(store, request.secondGenerationId, 'secondGenerationId')
    if (first.id === second.id) throw new ApiError('invalid_params', 'An output cannot be compared with itself.', [{ path: 'secondGenerationId', message: 'same as firstGenerationId' }])
    if (first.evalItemId !== second.evalItemId) {
      throw new ApiError('invalid_params', 'The two outputs answer different prompts; only answers to the same prompt can be compared.', [
        { path: 'secondGenerationId', message: 'answers another prompt than firstGenerationId' },
      ])
    }
    // The pair keeps the orientation of its first vote, so a revote in either
    // order lands on the same row; a first vote on a batch's outputs takes the
    // batch's orientation (A the evaluated exit), so its tallies line up with the judge's.
    const existing = store.evals.findComparison(first.id, second.id, HUMAN_JUDGE)
    const oriented = existing ?? store.evals.findComparison(first.id, second.id)
    const [aId, bId] = oriented ? [oriented.generationAId, oriented.generationBId] : [first.id, second.id]
    const shown: Order = first.id === aId ? 'ab' : 'ba'
    const other: Order = shown === 'ab' ? 'ba' : 'ab'
    const voted: Judgement = { verdict: request.verdict, reason: VOTED, reference: null }
    const earlier = existing?.[other]
    const otherJudgement: Judgement = earlier?.reason === VOTED ? earlier : { verdict: mirror(request.verdict), reason: MIRRORED, reference: null }
    const comparison = store.evals.recordComparison({
      generationAId: aId,
      generationBId: bId,
      judge: HUMAN_JUDGE,
      ab: shown === 'ab' ? voted : otherJudgement,
      ba: shown === 'ba' ? voted : otherJudgement,
    })
    const item = store.evals.getItem(comparison.evalItemId)!
    return toVote(store, { ...comparison, evalSetId: item.evalSetId })
  })
}

/** The person's latest votes, newest first; on one set or on all. */
export function listVotes(store: Store, options: { setId?: string | undefined; limit: number }): Vote[] {
  return store.evals.recentComparisons(HUMAN_JUDGE, options.limit, options.setId).map((c) => toVote(store, c))
}

/**
 * A set's items where both contenders answered (with this answer length),
 * each with both answers and the person's vote on them: what a person reads
 * to vote on a batch's outputs.
 */
export function pairOutputs(store: Store, request: z.output<typeof PairOutputsRequest>): PairItem[] {
  if (!store.evals.getSet(request.setId)) throw new ApiError('not_found', `No evaluation set ${request.setId}.`)
  const answer = (g: Generation) => ({ generationId: g.id, output: g.output, tokensPerSecond: g.tokensPerSecond })
  // An int4 or Exact answer at the same exit is another contender's: the weights and mode must match too.
  const matches = (g: Generation, c: z.output<typeof PairOutputsRequest>['a']) => {
    const limit = g.decoding['maxNewTokens']
    const wanted = { precision: c.precision ?? 'fp32', ...(c.blockSize !== undefined ? { blockSize: c.blockSize } : {}), mode: c.mode ?? null }
    // An answer made with an adapter (the CLI's) is not the base model's.
    return (
      g.modelId === c.modelId &&
      g.exit === c.exit &&
      (typeof limit === 'number' ? limit : null) === request.maxNewTokens &&
      !isAdapterAnswer(g.decoding) &&
      sameVariant(answerVariantOf(g.decoding), wanted)
    )
  }
  return store.evals.items(request.setId).flatMap((item) => {
    const generations = store.evals.generations(item.id)
    const a = generations.find((g) => matches(g, request.a))
    const b = generations.find((g) => matches(g, request.b))
    if (!a || !b || a.id === b.id) return []
    const comparison = store.evals.findComparison(a.id, b.id, HUMAN_JUDGE)
    return [
      {
        itemId: item.id,
        idx: item.idx,
        instruction: item.instruction,
        input: item.input,
        reference: item.reference,
        a: answer(a),
        b: answer(b),
        vote: comparison ? toVote(store, { ...comparison, evalSetId: item.evalSetId }) : null,
      },
    ]
  })
}

function generation(store: Store, id: string, field: string): Generation {
  const found = store.evals.getGeneration(id)
  if (!found) throw new ApiError('not_found', `No stored output ${id}.`, [{ path: field, message: 'no such output' }])
  return found
}

function preferred(c: Comparison): Vote['preferred'] {
  // A's side in each order: ab '1' and ba '2' both mean A.
  const ab = c.ab.verdict === '1' ? 'a' : c.ab.verdict === '2' ? 'b' : 'tie'
  const ba = c.ba.verdict === '2' ? 'a' : c.ba.verdict === '1' ? 'b' : 'tie'
  return ab === ba ? ab : 'split'
}

function toVote(store: Store, c: Comparison & { evalSetId: string }): Vote {
  const item = store.evals.getItem(c.evalItemId)!
  const output = (id: string) => {
    const g = store.evals.getGeneration(id)!
    const model = store.models.get(g.modelId)
    return {
      generationId: g.id,
      modelId: g.modelId,
      modelName: model?.name ?? g.modelId,
      modelPath: model?.path ?? '',
      exit: g.exit,
      ...answerVariantOf(g.decoding),
      output: g.output,
      tokensPerSecond: g.tokensPerSecond,
    }
  }
  const votedOrders = (['ab', 'ba'] as const).filter((order) => c[order].reason === VOTED)
  return {
    comparisonId: c.id,
    setId: c.evalSetId,
    itemId: item.id,
    instruction: item.instruction,
    input: item.input,
    a: output(c.generationAId),
    b: output(c.generationBId),
    ab: c.ab.verdict,
    ba: c.ba.verdict,
    votedOrders,
    preferred: preferred(c),
    createdAt: c.createdAt,
  }
}
