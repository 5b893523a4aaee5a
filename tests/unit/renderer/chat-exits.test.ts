import { describe, expect, it } from 'vitest'
import { describeStop, exitCounts, exitRuns, exitTint, sliderStops } from '../../../src-renderer/src/chat/exits'

describe('exit runs of a reply', () => {
  it('joins neighbouring tokens of one exit and splits where the slider moved', () => {
    expect(exitRuns('The cat sat.', [8, 8, 8, 2], [3, 4, 4, 1])).toEqual([
      { text: 'The cat sat', exit: 8 },
      { text: '.', exit: 2 },
    ])
  })

  it('puts text beyond the recorded lengths at the last exit, and skips empty tokens', () => {
    expect(exitRuns('abcdef', [4, 2, 2], [2, 0, 1])).toEqual([
      { text: 'ab', exit: 4 },
      { text: 'cdef', exit: 2 },
    ])
  })
})

describe('exit statistics', () => {
  it('counts tokens per exit, deepest first', () => {
    expect(exitCounts([8, 8, 2, 2, 2, 4])).toEqual([
      { exit: 8, tokens: 2 },
      { exit: 4, tokens: 1 },
      { exit: 2, tokens: 3 },
    ])
  })
})

describe('budget slider stops', () => {
  const model = {
    numLayers: 8,
    exits: [2, 4, 8],
    results: {
      '2': { decode_tokens_per_s: 300, rouge_l: 0.2 },
      '4': { decode_tokens_per_s: 200, val_loss: 2.5 },
      '8': { decode_tokens_per_s: 100, rouge_l: 0.4 },
    },
  }

  it('offers one stop per exit with speed relative to the full model and a quality figure', () => {
    const stops = sliderStops(model)
    expect(stops.map((s) => [s.exit, s.speedup, s.quality?.name])).toEqual([
      [2, 3, 'ROUGE-L'],
      [4, 2, 'val loss'],
      [8, 1, 'ROUGE-L'],
    ])
    expect(describeStop(stops[0]!)).toBe('2 of 8 layers, 3.00× speed, ROUGE-L 0.200')
  })

  it('offers every layer count, without figures, for a model with no sorted.json', () => {
    const stops = sliderStops({ numLayers: 3, exits: [], results: {} })
    expect(stops.map((s) => s.exit)).toEqual([1, 2, 3])
    expect(describeStop(stops[1]!)).toBe('2 of 3 layers')
  })

  it('tints shallower exits more and leaves the full model untinted', () => {
    expect(exitTint(8, 8)).toBe(0)
    expect(exitTint(4, 8)).toBe(0.5)
    expect(exitTint(2, 8)).toBeGreaterThan(exitTint(4, 8))
  })
})
