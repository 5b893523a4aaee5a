import { describe, expect, it } from 'vitest'
import { initialWeights } from '../../../../src-main/engine/model/init'
import { tinyConfig } from '../generate/random-model'

describe('initial weights', () => {
  const config = tinyConfig({ layers: 2, hidden: 32, heads: 4, kvHeads: 2, intermediate: 64, vocab: 300, architecture: 'qwen2' })

  it('draws linear and embedding weights from N(0, 0.02²), norms 1, biases 0', () => {
    const w = initialWeights(config, 1)
    const values = Array.from(w.embed)
    const mean = values.reduce((a, b) => a + b, 0) / values.length
    const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length)
    expect(Math.abs(mean)).toBeLessThan(0.002)
    expect(std).toBeGreaterThan(0.019)
    expect(std).toBeLessThan(0.021)
    expect(Array.from(w.layers[1]!.mlpNorm)).toEqual(new Array(32).fill(1))
    expect(Array.from(w.layers[0]!.qBias!)).toEqual(new Array(32).fill(0))
    expect(w.lmHead).toHaveLength(300 * 32)
  })

  it('is reproducible from its seed, and differs across seeds', () => {
    expect(Array.from(initialWeights(config, 5).layers[0]!.up)).toEqual(Array.from(initialWeights(config, 5).layers[0]!.up))
    expect(Array.from(initialWeights(config, 6).layers[0]!.up)).not.toEqual(Array.from(initialWeights(config, 5).layers[0]!.up))
  })

  it('leaves the head out when embeddings are tied', () => {
    expect(initialWeights({ ...config, tieWordEmbeddings: true }, 1).lmHead).toBeUndefined()
  })
})
