import { describe, expect, it } from 'vitest'
import type { Verdict } from '../../../../src-main/engine/judge/pandalm'
import { combine, tally } from '../../../../src-main/engine/judge/verdicts'

describe('combine (A as response 1, then B as response 1)', () => {
  // [ab, ba, expected outcome for A]; in ba, '1' means B won.
  const cases: [Verdict, Verdict, { win: number; loss: number; tie: number }][] = [
    ['1', '2', { win: 1, loss: 0, tie: 0 }], // A wins both orders
    ['2', '1', { win: 0, loss: 1, tie: 0 }], // B wins both orders
    ['Tie', 'Tie', { win: 0, loss: 0, tie: 1 }],
    ['1', 'Tie', { win: 0.5, loss: 0, tie: 0.5 }],
    ['Tie', '2', { win: 0.5, loss: 0, tie: 0.5 }],
    ['2', 'Tie', { win: 0, loss: 0.5, tie: 0.5 }],
    ['Tie', '1', { win: 0, loss: 0.5, tie: 0.5 }],
    ['1', '1', { win: 0.5, loss: 0.5, tie: 0 }], // position bias: response 1 always wins
    ['2', '2', { win: 0.5, loss: 0.5, tie: 0 }], // position bias: response 2 always wins
  ]
  it.each(cases)('ab=%s ba=%s', (ab, ba, expected) => {
    const outcome = combine(ab, ba)
    expect(outcome).toEqual(expected)
    expect(outcome.win + outcome.loss + outcome.tie).toBe(1)
  })
})

describe('tally', () => {
  it("reproduces the paper's 53/66/51 of 170 → score −0.0765", () => {
    const outcomes = [
      ...Array.from({ length: 53 }, () => combine('1', '2')),
      ...Array.from({ length: 66 }, () => combine('2', '1')),
      ...Array.from({ length: 51 }, () => combine('Tie', 'Tie')),
    ]
    const t = tally(outcomes)
    expect([t.wins, t.losses, t.ties, t.n]).toEqual([53, 66, 51, 170])
    expect(t.score).toBeCloseTo(-0.0765, 4)
  })

  it('allows fractional counts (e.g. 52.5 wins)', () => {
    const t = tally([combine('1', '2'), combine('1', 'Tie'), combine('1', '1'), combine('Tie', 'Tie')])
    expect(t).toEqual({ wins: 2, losses: 0.5, ties: 1.5, n: 4, score: 1.5 / 4 })
    expect(tally([combine('1', 'Tie')]).wins).toBe(0.5)
  })

  it('scores an empty tally 0', () => {
    expect(tally([])).toEqual({ wins: 0, losses: 0, ties: 0, n: 0, score: 0 })
  })
})
