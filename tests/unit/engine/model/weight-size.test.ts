import { describe, expect, it } from 'vitest'
import type { ModelConfig } from '../../../../src-main/engine/model/types'
import { quantizedMatrixBytes, weightBytes } from '../../../../src-main/engine/model/weight-size'

/** vocab 100, d 64, SwiGLU 96, 2 layers, 4 query / 2 key-value heads of 16, untied, no biases. */
const config: ModelConfig = {
  architecture: 'llama',
  hfArchitecture: 'LlamaForCausalLM',
  vocabSize: 100,
  hiddenSize: 64,
  intermediateSize: 96,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 2,
  headDim: 16,
  rmsNormEps: 1e-6,
  ropeTheta: 10000,
  ropeScaling: undefined,
  maxPositionEmbeddings: 128,
  tieWordEmbeddings: false,
  attentionBias: false,
  qkNorm: false,
  bosTokenId: 1,
  eosTokenIds: [2],
  raw: {},
}

describe('weight bytes per precision, from the config (worked by hand)', () => {
  // Per layer: q 64×64, k 32×64, v 32×64, o 64×64, gate/up 96×64, down 64×96 = 30 720 linear values,
  // two norms of 64. Outside: embedding 100×64, final norm 64, head 100×64.
  it('fp32 is 4 bytes per parameter', () => {
    expect(weightBytes(config, 'fp32')).toBe((2 * (30720 + 128) + 6400 + 64 + 6400) * 4) // 298 240
  })

  it('int8: each 32-value block is 32 code bytes + a 4-byte scale; head int8; embedding and norms fp32', () => {
    // q 64·2·36 + k 32·2·36 + v 32·2·36 + o 64·2·36 + gate/up 96·2·36 each + down 64·3·36 = 34 560 per layer
    const layers = 2 * 34560 + 2 * 128 * 4
    expect(weightBytes(config, 'int8')).toBe(layers + 6400 * 4 + 64 * 4 + 100 * 2 * 36) // 103 200
  })

  it('int4: each block is 16 code bytes + a scale; the head is still int8', () => {
    // q 2560 + k 1280 + v 1280 + o 2560 + gate 3840 + up 3840 + down 3840 = 19 200 per layer
    expect(weightBytes(config, 'int4')).toBe(2 * 19200 + 2 * 128 * 4 + 6400 * 4 + 64 * 4 + 7200) // 72 480
  })

  it('a tied model has no fp32 head, but a quantized model holds an int8 copy of the embedding as its head', () => {
    const tied = { ...config, tieWordEmbeddings: true }
    expect(weightBytes(tied, 'fp32')).toBe(298240 - 6400 * 4)
    expect(weightBytes(tied, 'int4')).toBe(72480)
  })

  it('a K that is not a multiple of the block is padded to whole blocks; larger blocks carry fewer scales', () => {
    expect(quantizedMatrixBytes(64, 96, 4, 64)).toBe(64 * 2 * (32 + 4))
    expect(quantizedMatrixBytes(64, 256, 4, 128)).toBe(64 * 2 * (64 + 4))
  })
})
