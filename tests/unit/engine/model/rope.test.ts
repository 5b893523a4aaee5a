import { describe, expect, it } from 'vitest'
import { inverseFrequencies, ropeTables } from '../../../../src-main/engine/model/rope'
import type { RopeScaling } from '../../../../src-main/engine/model/types'

const base = { headDim: 8, ropeTheta: 10000, maxPositionEmbeddings: 64, ropeScaling: undefined as RopeScaling | undefined }

describe('rotary embedding tables', () => {
  it('unscaled: angle = position · θ^(−2i/D), each frequency written at i and i + D/2', () => {
    const { cos, sin } = ropeTables(base, 5, 1)
    for (let i = 0; i < 4; i++) {
      const angle = 5 / 10000 ** ((2 * i) / 8)
      expect(cos[i]).toBeCloseTo(Math.cos(angle), 6)
      expect(cos[i + 4]).toBeCloseTo(Math.cos(angle), 6)
      expect(sin[i]).toBeCloseTo(Math.sin(angle), 6)
    }
  })

  it('linear scaling: position p with factor 2 looks like unscaled position p/2', () => {
    const scaled = ropeTables({ ...base, ropeScaling: { type: 'linear', factor: 2 } }, 10, 1)
    const plain = ropeTables(base, 5, 1)
    expect(Array.from(scaled.cos)).toEqual(Array.from(plain.cos))
  })

  it('dynamic NTK: unchanged within the trained length, a larger base beyond it', () => {
    const dynamic = { ...base, ropeScaling: { type: 'dynamic', factor: 2 } as RopeScaling }
    expect(Array.from(inverseFrequencies(dynamic, 64))).toEqual(Array.from(inverseFrequencies(base)))
    const longer = inverseFrequencies(dynamic, 128)
    // transformers: base · ((factor·len/max) − (factor − 1))^(D/(D−2)) = 10000 · 3^(4/3)
    expect(longer[1]).toBeCloseTo(1 / (10000 * 3 ** (8 / 6)) ** (2 / 8), 12)
    expect(longer[0]).toBe(1)
  })

  it('Llama 3 scaling: high frequencies kept, low ones divided by the factor, a smooth blend between', () => {
    const config = {
      headDim: 128,
      ropeTheta: 500000,
      maxPositionEmbeddings: 131072,
      ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 } as RopeScaling,
    }
    const scaled = inverseFrequencies(config)
    const plain = inverseFrequencies({ ...config, ropeScaling: undefined })
    let kept = 0
    let divided = 0
    let blended = 0
    plain.forEach((f, i) => {
      const wavelength = (2 * Math.PI) / f
      if (wavelength < 8192 / 4) {
        expect(scaled[i]).toBe(f)
        kept++
      } else if (wavelength > 8192) {
        expect(scaled[i]).toBeCloseTo(f / 8, 15)
        divided++
      } else {
        expect(scaled[i]!).toBeLessThan(f)
        expect(scaled[i]!).toBeGreaterThan(f / 8)
        blended++
      }
    })
    expect([kept, divided, blended].every((n) => n > 0)).toBe(true)
  })
})
