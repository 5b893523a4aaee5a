import { describe, expect, it } from 'vitest'
import { comparisonMatrix, contenderLabel, qualityVsSpeed } from '../../../../src-main/engine/judge/matrix'
import { combine } from '../../../../src-main/engine/judge/verdicts'

describe('comparisonMatrix', () => {
  it('makes one "exit e of A vs B" row per pair with W/L/T and score', () => {
    const full = { modelPath: 'tiny' }
    const rows = comparisonMatrix([
      { a: { modelPath: 'tiny', exit: 4 }, b: full, outcomes: [combine('2', '1'), combine('Tie', 'Tie'), combine('1', 'Tie')] },
      { a: { modelPath: 'tiny', exit: 8 }, b: full, outcomes: [combine('1', '2'), combine('Tie', 'Tie')] },
      { a: { modelPath: 'tiny', exit: 4 }, b: full, outcomes: [combine('2', '1')] },
    ])
    expect(rows.map((r) => r.label)).toEqual(['exit 4 of tiny vs tiny', 'exit 8 of tiny vs tiny'])
    const [four, eight] = rows
    expect(four).toMatchObject({ wins: 0.5, losses: 2, ties: 1.5, n: 4, score: -1.5 / 4 })
    expect(eight).toMatchObject({ wins: 1, losses: 0, ties: 1, n: 2, score: 0.5 })
  })

  it('labels full models by name', () => {
    expect(contenderLabel({ modelPath: 'llama-7b' })).toBe('llama-7b')
    expect(contenderLabel({ modelPath: 'llama-7b', exit: 16 })).toBe('exit 16 of llama-7b')
  })
})

describe('qualityVsSpeed', () => {
  it('sorts points by exit without mutating the input', () => {
    const input = [
      { exit: 12, score: 0, tokensPerSecond: 40 },
      { exit: 4, score: -0.6, tokensPerSecond: 110 },
      { exit: 8, score: -0.2, tokensPerSecond: 70 },
    ]
    const points = qualityVsSpeed(input)
    expect(points.map((p) => p.exit)).toEqual([4, 8, 12])
    expect(points[0]).toEqual({ exit: 4, score: -0.6, tokensPerSecond: 110 })
    expect(input[0]?.exit).toBe(12)
  })
})
