import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../../../src-main/engine/model/config'
import { cpuFlopsPerSecond, estimateRun, modelShape, type EstimatePlan } from '../../../../src-main/engine/train/estimate'
import { plannedSteps, plannedValidations, splitSizes } from '../../../../src-main/engine/train/tune-data'

// hidden 8, 2 heads of 4 (1 KV head), MLP 16, vocabulary 10, 2 layers, untied head.
const config = parseConfig(
  {
    architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: 10, hidden_size: 8, intermediate_size: 16,
    num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1, rms_norm_eps: 1e-5, tie_word_embeddings: false,
  },
  'config.json',
)

// By hand: a layer is 2 norms (8 + 8), q 8×8, k and v 4×8 each, o 8×8, gate and up 16×8, down 8×16
// = 16 + 64 + 64 + 64 + 384 = 592; the model adds embeddings 10×8, the final norm 8 and the head 10×8.
const P = 80 + 2 * 592 + 8 + 80 // 1352

const plan: EstimatePlan = { mode: 'soft', exits: [1, 2], batchSize: 2, seqLen: 4, gradAccum: 3, steps: 10, validationBatches: 2, validations: 3 }

describe('run estimate', () => {
  it('counts the parameters of the model and of one layer', () => {
    expect(modelShape(config)).toEqual({ parameters: P, layerParameters: 592, layers: 2, hidden: 8, heads: 2, vocab: 10 })
  })

  it('adds one LM head pass per extra exit to 6 FLOPs per parameter per token (SoFT)', () => {
    const e = estimateRun(modelShape(config), plan)
    expect(e.tokensPerStep).toBe(24) // 2 rows × 4 tokens × 3 micro-batches
    // (6·1352 + 6·(10·8)·1) per token × 24 tokens × 10 steps
    expect(e.breakdown.trainFlops).toBe(2_062_080)
    // 3 validations × 2 batches × 8 tokens × 2·(1352 + 80·1)
    expect(e.breakdown.validationFlops).toBe(137_472)
    expect(e.seconds).toBeCloseTo((2_062_080 + 137_472) / cpuFlopsPerSecond.full, 15)
    expect(e.breakdown.flopsPerSecond).toBe(cpuFlopsPerSecond.full)
  })

  it('sums fp32 weights, gradients, two AdamW moments, activations, attention and every exit’s logits', () => {
    const e = estimateRun(modelShape(config), plan)
    expect(e.breakdown).toMatchObject({
      parameterBytes: 5408, // 1352 × 4
      gradientBytes: 5408,
      optimizerBytes: 10_816,
      activationBytes: 9216, // 2 × 4 × 8 hidden × 2 layers × 18 × 4 bytes
      attentionBytes: 1024, // 2 × 2 heads × 4² × 2 layers × 2 × 4 bytes
      logitBytes: 640, // 2 × 4 × 10 vocab × 4 bytes × 2 exits
    })
    expect(e.memoryBytes).toBe(32_512)
  })

  it('gives an adapter run gradients and AdamW moments for the adapter only, the frozen base its fp32 weights', () => {
    // LoRA r 2 on every linear of both layers: per layer q/o 2·(8+8)·2, k/v 2·(8+4)·2, gate/up 2·(8+16)·2, down 2·(16+8)
    const adapter = 2 * (2 * 2 * 16 + 2 * 2 * 12 + 3 * 2 * 24) // 496
    const e = estimateRun(modelShape(config), { ...plan, trainedParameters: adapter })
    expect(e.breakdown).toMatchObject({ parameterBytes: 5408, gradientBytes: adapter * 4, optimizerBytes: adapter * 8 })
  })

  it('costs an adapter run 4 FLOPs per frozen parameter per token (no weight gradient) and 6 per adapter parameter, at the adapter rate', () => {
    const adapter = 496
    const e = estimateRun(modelShape(config), { ...plan, trainedParameters: adapter })
    // (4·1352 + 4·(10·8)·1 + 6·496) per token × 24 tokens × 10 steps
    expect(e.breakdown.trainFlops).toBe(24 * 10 * (4 * 1352 + 4 * 80 + 6 * 496))
    expect(e.breakdown.flopsPerSecond).toBe(cpuFlopsPerSecond.adapter)
    expect(e.seconds).toBeCloseTo((e.breakdown.trainFlops + e.breakdown.validationFlops) / cpuFlopsPerSecond.adapter, 15)
  })

  it('costs SortedNet the full model plus the average sampled sub-model, with one exit’s logits', () => {
    const e = estimateRun(modelShape(config), { ...plan, mode: 'sortednet' })
    // The 1-layer sub-model skips one layer: 1352 − 592 = 760 parameters.
    expect(e.breakdown.trainFlops).toBe(10 * 24 * (6 * 1352 + 6 * 760))
    expect(e.breakdown.logitBytes).toBe(320)
  })

  it('costs SFT 6 FLOPs per parameter per token, with the full model alone validated', () => {
    const e = estimateRun(modelShape(config), { ...plan, mode: 'sft' })
    expect(e.breakdown.trainFlops).toBe(10 * 24 * 6 * 1352)
    expect(e.breakdown.validationFlops).toBe(3 * 2 * 8 * 2 * 1352)
    expect(e.breakdown.logitBytes).toBe(320)
  })

  it('plans steps, validations and the split as the job does', () => {
    expect(plannedSteps(10, { gradAccum: 3 })).toBe(4) // one epoch of 10 micro-batches
    expect(plannedSteps(10, { epochs: 2, gradAccum: 1 })).toBe(20)
    expect(plannedSteps(10, { maxSteps: 7, gradAccum: 3 })).toBe(7)
    expect(plannedValidations(10, 0)).toBe(1)
    expect(plannedValidations(10, 5)).toBe(2) // at 5, and at the end (10)
    expect(plannedValidations(10, 3)).toBe(4) // 3, 6, 9, and 10
    expect(splitSizes(20, 0.25, 1)).toEqual({ train: 15, validation: 5 })
    expect(splitSizes(20, 0, 1)).toEqual({ train: 20, validation: 0 })
  })
})
