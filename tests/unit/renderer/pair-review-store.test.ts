import { describe, expect, it } from 'vitest'
import type { PairItem, PairResult, ResultContender, Vote } from '../../../src-main/api/contract'
import { reviewPairs, usePairReviewStore } from '../../../src-renderer/src/stores/pair-review'
import { FakeClient, piniaWith } from './fake-client'

const ref = (modelId: string, exit: number, variant: Pick<ResultContender, 'precision' | 'mode'> = { precision: 'fp32', mode: null }): ResultContender => ({
  modelId,
  modelName: modelId,
  modelPath: `/m/${modelId}`,
  exit,
  ...variant,
})
const tally = { wins: 1, losses: 0, ties: 0, n: 1, score: 1 }
const pair = (judge: string, a: ReturnType<typeof ref>, b: ReturnType<typeof ref>, maxNewTokens: number | null = 8): PairResult => ({ judge, a, b, maxNewTokens, ...tally })

function item(idx: number, vote: Vote | null = null): PairItem {
  return {
    itemId: `i${idx}`,
    idx,
    instruction: `q${idx}`,
    input: '',
    reference: null,
    a: { generationId: `a${idx}`, output: 'A', tokensPerSecond: 1 },
    b: { generationId: `b${idx}`, output: 'B', tokensPerSecond: 1 },
    vote,
  }
}

describe('pair review', () => {
  it('offers each pair of contenders once, whichever judge compared them and in which orientation', () => {
    const pairs = reviewPairs([
      pair('reference', ref('s', 2), ref('f', 8)),
      pair('human', ref('f', 8), ref('s', 2)),
      pair('reference', ref('s', 4), ref('f', 8)),
      pair('reference', ref('s', 2), ref('f', 8), 16),
    ])
    expect(pairs.map((p) => [p.a.exit, p.b.exit, p.maxNewTokens])).toEqual([
      [2, 8, 8],
      [4, 8, 8],
      [2, 8, 16],
    ])
  })

  it('offers an int4 or Exact contender at the same exit as a pair of its own, and asks for its answers by weights and mode', async () => {
    const pairs = reviewPairs([
      pair('reference', ref('s', 2), ref('f', 8)),
      pair('reference', ref('s', 2, { precision: 'int4', mode: null }), ref('f', 8)),
      pair('reference', ref('s', 8, { precision: 'fp32', mode: { kind: 'exact' } }), ref('f', 8)),
    ])
    expect(pairs).toHaveLength(3)
    const client = new FakeClient().handle('evaluations.pairOutputs', () => ({ items: [item(0)] }))
    piniaWith(client)
    const review = usePairReviewStore()
    await review.open('set', pairs[1]!)
    expect(client.calls[0]!.params).toEqual({ setId: 'set', a: { modelId: 's', exit: 2, precision: 'int4' }, b: { modelId: 'f', exit: 8 }, maxNewTokens: 8 })
    await review.open('set', pairs[2]!)
    expect(client.calls[1]!.params).toEqual({ setId: 'set', a: { modelId: 's', exit: 8, mode: { kind: 'exact' } }, b: { modelId: 'f', exit: 8 }, maxNewTokens: 8 })
  })

  it('opens at the first item not voted on, shows every other item B first, and votes in the order shown', async () => {
    const earlier = { comparisonId: 'c0' } as Vote
    const client = new FakeClient()
      .handle('evaluations.pairOutputs', () => ({ items: [item(0, earlier), item(1), item(2)] }))
      .handle('evaluations.vote', () => ({ vote: { comparisonId: 'new' } as Vote }))
    piniaWith(client)
    const review = usePairReviewStore()
    const [p] = reviewPairs([pair('reference', ref('s', 2), ref('f', 8))])
    await review.open('set', p!)
    expect(client.calls[0]!.params).toEqual({ setId: 'set', a: { modelId: 's', exit: 2 }, b: { modelId: 'f', exit: 8 }, maxNewTokens: 8 })
    expect(review.index).toBe(1)

    // Item 1 (odd) is shown B first: response 1 is B's answer.
    expect(await review.vote('1')).toBe(true)
    expect(client.calls[1]).toEqual({ method: 'evaluations.vote', params: { firstGenerationId: 'b1', secondGenerationId: 'a1', verdict: '1' } })
    expect([review.index, review.voted]).toEqual([2, 2])

    await review.vote('Tie')
    expect(client.calls[2]!.params).toEqual({ firstGenerationId: 'a2', secondGenerationId: 'b2', verdict: 'Tie' })
  })
})
