import { describe, expect, it } from 'vitest'
import { TIE_MARGIN, referenceJudge } from '../../../../src-main/engine/judge/reference'
import { combine } from '../../../../src-main/engine/judge/verdicts'

const reference = 'the cat sat on the mat'

describe('referenceJudge', () => {
  it('picks the response with the higher ROUGE-L F1 and reports both scores', () => {
    const out = referenceJudge({ response1: 'the cat sat on the mat', response2: 'a dog ran', reference })
    expect(out).toEqual({ verdict: '1', reason: 'ROUGE-L 1.00 vs 0.00', reference })
    expect(referenceJudge({ response1: 'a dog ran', response2: 'the cat sat on a mat', reference }).verdict).toBe('2')
  })

  it('ties within the margin of 0.05 absolute F1, and not beyond it', () => {
    expect(TIE_MARGIN).toBe(0.05)
    // 20-token reference; response 1 matches all of it, response 2 misses one token (F1 = 2·19/(20+19) ≈ 0.974, gap 0.026)
    const long = Array.from({ length: 20 }, (_, i) => `w${i}`).join(' ')
    const missingOne = long.split(' ').slice(1).join(' ')
    expect(referenceJudge({ response1: long, response2: missingOne, reference: long }).verdict).toBe('Tie')
    // Missing three of 20 (F1 = 34/37 ≈ 0.919, gap 0.081) is beyond the margin
    const missingThree = long.split(' ').slice(3).join(' ')
    expect(referenceJudge({ response1: long, response2: missingThree, reference: long }).verdict).toBe('1')
    // Identical-quality answers tie; a custom margin is honoured
    expect(referenceJudge({ response1: 'the cat', response2: 'the mat', reference }).verdict).toBe('Tie')
    expect(referenceJudge({ response1: long, response2: missingThree, reference: long }, 0.1).verdict).toBe('Tie')
  })

  it('is symmetric: the two orders always agree, so combine never splits', () => {
    const responses = ['the cat sat on the mat', 'the cat sat', 'a cat on a mat', 'dogs', '', 'The Cat sat on the MAT!']
    for (const a of responses) {
      for (const b of responses) {
        const ab = referenceJudge({ response1: a, response2: b, reference }).verdict
        const ba = referenceJudge({ response1: b, response2: a, reference }).verdict
        const swapped = ba === '1' ? '2' : ba === '2' ? '1' : 'Tie'
        expect(ab).toBe(swapped)
        const outcome = combine(ab, ba)
        expect(Math.max(outcome.win, outcome.loss, outcome.tie)).toBe(1)
      }
    }
  })
})
