import { describe, expect, it } from 'vitest'
import { WorkEstimate } from '../../../../src-main/engine/judge/work-estimate'

function clock() {
  let t = 0
  return { now: () => t, advance: (ms: number) => (t += ms) }
}

describe('work estimate', () => {
  it('knows nothing before a unit was worked', () => {
    const c = clock()
    const estimate = new WorkEstimate<'answer'>(c.now)
    c.advance(5000)
    estimate.step('answer', false)
    expect(estimate.etaSeconds({ answer: 10 })).toBeNull()
  })

  it('prices each kind at its own rate and skipped units at nothing', () => {
    const c = clock()
    const estimate = new WorkEstimate<'answer' | 'judge'>(c.now)
    c.advance(2000)
    estimate.step('answer', true) // 2 s
    c.advance(1)
    estimate.step('answer', false) // stored: not a rate sample
    c.advance(4000)
    estimate.step('answer', true) // 4 s: mean 3 s per answer
    c.advance(100)
    estimate.step('judge', true) // 0.1 s per judgement
    expect(estimate.etaSeconds({ answer: 2, judge: 10 })).toBeCloseTo(2 * 3 + 10 * 0.1, 9)
  })

  it('uses the mean of all work for a kind not yet seen, and restarts timing after a pause', () => {
    const c = clock()
    const estimate = new WorkEstimate<'answer' | 'judge'>(c.now)
    c.advance(1000)
    estimate.step('answer', true)
    c.advance(60_000) // loading the next model
    estimate.restart()
    c.advance(1000)
    estimate.step('answer', true)
    expect(estimate.etaSeconds({ judge: 4 })).toBeCloseTo(4, 9)
  })
})
