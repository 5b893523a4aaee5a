/**
 * Rotary position embedding tables, with the scaling variants Hugging Face
 * implements (`rope_scaling`): linear (positions divided by the factor),
 * dynamic NTK (the base grows once the sequence outgrows the trained
 * length) and Llama 3's frequency-dependent rescaling.
 */
import type { ModelConfig } from './types'

/** Inverse frequencies θ^(−2i/D), i < D/2, after any frequency-based scaling. */
export function inverseFrequencies(config: Pick<ModelConfig, 'headDim' | 'ropeTheta' | 'ropeScaling' | 'maxPositionEmbeddings'>, sequenceLength = 0): Float64Array {
  const { headDim, ropeScaling } = config
  let base = config.ropeTheta
  if (ropeScaling?.type === 'dynamic' && sequenceLength > config.maxPositionEmbeddings) {
    // transformers' _compute_dynamic_ntk_parameters
    const { factor } = ropeScaling
    base *= ((factor * sequenceLength) / config.maxPositionEmbeddings - (factor - 1)) ** (headDim / (headDim - 2))
  }
  const half = headDim / 2
  const inv = Float64Array.from({ length: half }, (_, i) => 1 / base ** ((2 * i) / headDim))
  if (ropeScaling?.type === 'llama3') {
    // transformers' _compute_llama3_parameters
    const { factor, lowFreqFactor, highFreqFactor, originalMaxPositionEmbeddings: old } = ropeScaling
    const lowWavelen = old / lowFreqFactor
    const highWavelen = old / highFreqFactor
    for (let i = 0; i < half; i++) {
      const wavelen = (2 * Math.PI) / inv[i]!
      if (wavelen > lowWavelen) inv[i] = inv[i]! / factor
      else if (wavelen >= highWavelen) {
        const smooth = (old / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor)
        inv[i] = (1 - smooth) * (inv[i]! / factor) + smooth * inv[i]!
      }
    }
  }
  return inv
}

/**
 * cos and sin [count, D] for positions start … start+count−1, laid out as
 * Hugging Face's rotate_half expects (each frequency twice: i and i + D/2).
 */
export function ropeTables(
  config: Pick<ModelConfig, 'headDim' | 'ropeTheta' | 'ropeScaling' | 'maxPositionEmbeddings'>,
  start: number,
  count: number,
  inv: Float64Array = inverseFrequencies(config, start + count),
): { cos: Float32Array; sin: Float32Array } {
  const D = config.headDim
  const half = D / 2
  const linear = config.ropeScaling?.type === 'linear' ? config.ropeScaling.factor : 1
  const cos = new Float32Array(count * D)
  const sin = new Float32Array(count * D)
  for (let t = 0; t < count; t++) {
    const position = (start + t) / linear
    for (let i = 0; i < half; i++) {
      const angle = position * inv[i]!
      const c = Math.cos(angle)
      const s = Math.sin(angle)
      cos[t * D + i] = cos[t * D + i + half] = c
      sin[t * D + i] = sin[t * D + i + half] = s
    }
  }
  return { cos, sin }
}
