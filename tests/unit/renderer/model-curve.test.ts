import { describe, expect, it } from 'vitest'
import { qualityCurve } from '../../../src-renderer/src/models/curve'

describe('a model card\'s quality-vs-speed curve', () => {
  it('has one point per exit with a speed, in exit order, on ROUGE-L when measured', () => {
    const curve = qualityCurve({
      '8': { rouge_l: 0.33, val_loss: 4.1, decode_tokens_per_s: 400 },
      '1': { rouge_l: 0.19, val_loss: 4.7, decode_tokens_per_s: 2200 },
      '4': { rouge_l: 0.32, decode_tokens_per_s: 840 },
      '2': { rouge_l: 0.24 },
    })
    expect(curve).toEqual({
      metric: 'rouge_l',
      label: 'ROUGE-L F1',
      points: [
        { exit: 1, x: 2200, y: 0.19 },
        { exit: 4, x: 840, y: 0.32 },
        { exit: 8, x: 400, y: 0.33 },
      ],
    })
  })

  it('falls back to validation loss, and draws nothing from fewer than two points', () => {
    expect(qualityCurve({ '1': { val_loss: 4.7, decode_tokens_per_s: 10 }, '2': { val_loss: 4.4, decode_tokens_per_s: 5 } })?.metric).toBe('val_loss')
    expect(qualityCurve({ '1': { rouge_l: 0.2, decode_tokens_per_s: 10 } })).toBeNull()
    expect(qualityCurve({})).toBeNull()
  })
})

describe('a precision choice in words', () => {
  it('names the computed weight memory and the measured speed-up, labelled as measured', async () => {
    const { precisionLabel } = await import('../../../src-renderer/src/models/precision')
    expect(precisionLabel({ precision: 'int4', memoryBytes: 9_120_000, measuredSpeedup: 2.9 })).toBe('int4 · 9.1 MB weights · ≈2.9× fp32 decode speed (decode bench)')
    expect(precisionLabel({ precision: 'fp32', memoryBytes: 28_800_000, measuredSpeedup: 1 })).toBe('fp32 · 28.8 MB weights · baseline speed')
  })
})
