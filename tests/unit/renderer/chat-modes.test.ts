import { describe, expect, it } from 'vitest'
import { exitRuns } from '../../../src-renderer/src/chat/exits'
import { budgetIndex, budgetPositions, replyAcceptance, replyDroppedMessages, replyMode, speedupOverFull } from '../../../src-renderer/src/chat/modes'

describe('the budget slider\'s positions', () => {
  it('puts Exact and Auto after the exits, only where the engine offers them', () => {
    expect(budgetPositions([2, 4, 8], ['auto', 'exact'])).toEqual([{ exit: 2 }, { exit: 4 }, { exit: 8 }, { mode: 'exact' }, { mode: 'auto' }])
    expect(budgetPositions([2, 4, 8], [])).toEqual([{ exit: 2 }, { exit: 4 }, { exit: 8 }])
  })

  it('finds a mode\'s stop, an exit\'s stop, and falls back to the deepest exit for a mode not offered', () => {
    const positions = budgetPositions([2, 4, 8], ['exact', 'auto'])
    expect(budgetIndex(positions, { mode: 'auto' })).toBe(4)
    expect(budgetIndex(positions, { mode: 'exact' })).toBe(3)
    expect(budgetIndex(positions, { exit: 3 })).toBe(1)
    expect(budgetIndex(positions, { exit: 99 })).toBe(2)
    expect(budgetIndex(budgetPositions([2, 4, 8], []), { mode: 'exact' })).toBe(2)
  })
})

describe('what a stored reply says about Exact mode', () => {
  it('reads the acceptance rate and the accepted drafts from an Exact reply\'s settings', () => {
    const acceptance = replyAcceptance({ mode: 'exact', drafted: 8, accepted: 6, draftedTokens: [0, 1, 2, 4, 5, 6] })
    expect(acceptance).toMatchObject({ drafted: 8, accepted: 6, rate: 0.75 })
    expect([...acceptance!.tokens]).toEqual([0, 1, 2, 4, 5, 6])
    expect(replyAcceptance({ drafted: 0, accepted: 0 })).toMatchObject({ rate: undefined })
    expect(replyAcceptance({ exit: 4 })).toBeUndefined()
    expect(replyMode({ mode: 'exact' })).toBe('exact')
    expect(replyMode({ mode: 'nonsense' })).toBeUndefined()
  })

  it('gives accepted drafts runs of their own, so the tint can mark them', () => {
    expect(exitRuns('The cat sat', [8, 8, 8], [3, 4, 4], new Set([1, 2]))).toEqual([
      { text: 'The', exit: 8 },
      { text: ' cat sat', exit: 8, drafted: true },
    ])
  })

  it('measures the speed-up against the full depth\'s measured speed, and has none without it', () => {
    const model = { numLayers: 8, results: { '8': { decode_tokens_per_s: 400 } } }
    expect(speedupOverFull(600, model)).toBeCloseTo(1.5)
    expect(speedupOverFull(600, { numLayers: 8, results: {} })).toBeUndefined()
    expect(speedupOverFull(null, model)).toBeUndefined()
  })
})

describe('replyDroppedMessages', () => {
  it('reads how many oldest messages a reply left out, 0 when none or unreadable', () => {
    expect(replyDroppedMessages({ droppedMessages: 2 })).toBe(2)
    expect(replyDroppedMessages({})).toBe(0)
    expect(replyDroppedMessages({ droppedMessages: 'two' })).toBe(0)
  })
})
