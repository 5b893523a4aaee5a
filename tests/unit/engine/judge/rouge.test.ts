import { describe, expect, it } from 'vitest'
import { exactMatch, rougeL } from '../../../../src-main/engine/judge/rouge'

describe('ROUGE-L', () => {
  it('scores the classic example: LCS "the cat on the mat" of 6 and 6 tokens', () => {
    const { precision, recall, f1 } = rougeL('the cat is on the mat', 'the cat sat on the mat')
    expect(precision).toBeCloseTo(5 / 6, 12)
    expect(recall).toBeCloseTo(5 / 6, 12)
    expect(f1).toBeCloseTo(5 / 6, 12)
  })

  it('weighs precision and recall by each side’s length', () => {
    // rouge-score: target "police killed the gunman", prediction "police kill the gunman": LCS 3 → P = R = F = 0.75
    expect(rougeL('police kill the gunman', 'police killed the gunman').f1).toBeCloseTo(0.75, 12)
    // LCS 2 ("a", "c") of 2 and 4 tokens: P = 1, R = 0.5, F = 2/3
    const s = rougeL('a c', 'a b c d')
    expect([s.precision, s.recall, s.f1]).toEqual([1, 0.5, 2 / 3])
  })

  it('ignores case and punctuation, and is 0 for empty text', () => {
    expect(rougeL('The CAT!', 'the cat').f1).toBe(1)
    expect(rougeL('', 'the cat').f1).toBe(0)
    expect(rougeL('dog', 'the cat').f1).toBe(0)
  })
})

describe('exact match', () => {
  it('compares normalised token sequences', () => {
    expect(exactMatch('A tree.', 'a  tree')).toBe(true)
    expect(exactMatch('a tree', 'trees')).toBe(false)
  })
})
