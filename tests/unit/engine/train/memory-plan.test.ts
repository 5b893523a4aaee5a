import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../../../src-main/engine/model/config'
import { Graph } from '../../../../src-main/engine/onnx/graph'
import { add, mul } from '../../../../src-main/engine/onnx/ops/basic'
import { matmul } from '../../../../src-main/engine/onnx/ops/matmul'
import { transpose } from '../../../../src-main/engine/onnx/ops/shape'
import { arenaFactor, logitChunks, planMemory, recomputedLayerFactor, runtimeBytes } from '../../../../src-main/engine/train/memory-plan'
import { fitMemory, proposal, resolveRecompute } from '../../../../src-main/engine/train/memory-budget'
import { logitChunkBytes, planStep, quantizedBaseBytes } from '../../../../src-main/engine/train/run-plan'
import { graphSavedBytes, savedActivationBytes } from '../../../../src-main/engine/train/saved-activations'
import { buildSortedTrainGraph, type TrainedAdapter } from '../../../../src-main/engine/train/sorted-graph'
import { benchConfig } from '../../../bench/shapes'

const lora16: TrainedAdapter = { kind: 'lora', rank: 16, alpha: 32, targets: ['q', 'k', 'v', 'o', 'gate', 'up', 'down'], trainNorm: false }

describe('the memory planner arithmetic', () => {
  it('adds weights for every parameter, 12 bytes of training state per trained one (gradient, two moments), the saved tensors, the arena and the runtime', () => {
    const plan = planMemory({ parameters: 1000, trainedParameters: 100, savedActivationBytes: 2000 })
    expect(plan.breakdown).toEqual({ weightBytes: 4000, trainingStateBytes: 1200, activationBytes: 2000, arenaBytes: 2000 * arenaFactor, runtimeBytes })
    expect(plan.peakBytes).toBe(4000 + 1200 + 2000 + 2000 * 0.3 + 200e6)
  })

  it('adds a recomputed layer\'s activations with their backward\'s transients, and the LM head\'s logit chunks', () => {
    const plan = planMemory({ parameters: 1000, trainedParameters: 100, savedActivationBytes: 2000, recomputedLayerBytes: 500, logitChunkBytes: 300 })
    expect(plan.breakdown.activationBytes).toBe(2000 + 500 + logitChunks * 300)
    expect(plan.breakdown.arenaBytes).toBe(2000 * arenaFactor + 500 * (recomputedLayerFactor - 1))
  })

  it('counts one chunk of logits as the fused head computes it: 8 M values at most, fewer when the rows are fewer', () => {
    const qwen = { ...benchConfig({ layers: 24, d: 896, heads: 14, kvHeads: 2, ffn: 4864, vocab: 151936 }), tieWordEmbeddings: true }
    expect(logitChunkBytes(qwen, 1, 512)).toBe(Math.floor((8 * 1024 * 1024) / 151936) * 151936 * 4)
    expect(logitChunkBytes(qwen, 1, 8)).toBe(7 * 151936 * 4)
  })

  it('holds 16 bytes a parameter when every weight trains: the weight, its gradient and two moments, nothing more', () => {
    const full = planMemory({ parameters: 1000, trainedParameters: 1000, savedActivationBytes: 0 })
    expect(full.peakBytes).toBe(16_000 + runtimeBytes)
  })
})

describe('the tensors the backward keeps, read off the graph', () => {
  it('counts each forward tensor a backward node reads once, and nothing the forward alone reads', () => {
    const graph = new Graph('hand')
    const x = graph.input('x', 'float32', [2, 3])
    const w = graph.input('w', 'float32', [3, 5])
    const { h, y, z } = graph.scope('forward', () => {
      const h = matmul(x, w) // [2, 5]: read by the backward twice, counted once
      const unused = mul(h, 2) // [2, 5]: read by the forward only
      return { h, y: add(unused, 1), z: add(unused, 2) }
    })
    graph.output(graph.scope('backward', () => add(mul(h, y), h)), 'dx')
    // A backward node nothing reads is not run (serialize.ts drops it): z, read by it alone, is not kept.
    graph.scope('backward', () => mul(z, 3))
    // h and y, 10 floats each; the graph inputs x and w are weights and batch, not activations.
    expect(graphSavedBytes(graph)).toBe(2 * 10 * 4)
  })

  it('does not count a transposed graph input (ONNX Runtime folds the Transpose into the products: it is the weight itself)', () => {
    const graph = new Graph('hand')
    const x = graph.input('x', 'float32', [2, 3])
    const w = graph.input('w', 'float32', [5, 3])
    const { wt, h } = graph.scope('forward', () => {
      const wt = transpose(w, [1, 0]) // [3, 5], read by the backward: not counted
      return { wt, h: matmul(x, wt) } // [2, 5], read by the backward: counted
    })
    graph.output(graph.scope('backward', () => add(matmul(h, transpose(wt, [1, 0])), x)), 'dx')
    expect(graphSavedBytes(graph)).toBe(10 * 4)
  })

  const tiny = parseConfig(
    {
      architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: 64, hidden_size: 32, intermediate_size: 48,
      num_hidden_layers: 4, num_attention_heads: 4, num_key_value_heads: 2, rms_norm_eps: 1e-5, tie_word_embeddings: false,
    },
    'config.json',
  )
  const whole = (exits: number[], adapter?: TrainedAdapter) =>
    graphSavedBytes(buildSortedTrainGraph({ config: tiny, exits, batchSize: 2, seqLen: 8, mode: 'step', adapter }).graph)

  it('scaled from 1- and 2-layer graphs, equals the count on the whole graph (full, SoFT exits, LoRA)', () => {
    expect(savedActivationBytes(tiny, { batchSize: 2, seqLen: 8, graphExits: 1 })).toBe(whole([4]))
    expect(savedActivationBytes(tiny, { batchSize: 2, seqLen: 8, graphExits: 3 })).toBe(whole([2, 3, 4]))
    expect(savedActivationBytes(tiny, { batchSize: 2, seqLen: 8, graphExits: 2, adapter: lora16 })).toBe(whole([2, 4], lora16))
  })
})

describe('a QLoRA plan', () => {
  const bench = benchConfig({ layers: 16, d: 1024, heads: 16, kvHeads: 4, ffn: 2816, vocab: 32000 })
  const qlora: TrainedAdapter = { ...lora16, quantizedBase: { bits: 4, blockSize: 32 } }
  const step = { mode: 'soft' as const, exits: [4, 8, 12, 16], batchSize: 4, seqLen: 256 }

  it('holds the decoder Linears at 4 bits + a float scale per 32 values, the rest fp32, and two fp32 copies of the largest Linear', () => {
    const linears = 16 * (1024 * 1024 * 2 + 1024 * 256 * 2 + 3 * 1024 * 2816)
    const others = 2 * 32000 * 1024 + 16 * 2 * 1024 + 1024
    expect(quantizedBaseBytes(bench, qlora.quantizedBase!)).toBe(linears * (0.5 + 4 / 32) + others * 4 + 2 * 4 * 1024 * 2816)
    expect(planStep(bench, { ...step, adapter: qlora }).memory.breakdown.weightBytes).toBe(quantizedBaseBytes(bench, qlora.quantizedBase!))
  })

  it('trains what LoRA trains and keeps what LoRA keeps for the backward: only the weights differ', () => {
    const lora = planStep(bench, { ...step, adapter: lora16 })
    const q = planStep(bench, { ...step, adapter: qlora })
    expect(q.trainableParameters).toBe(lora.trainableParameters)
    expect(q.memory.breakdown.trainingStateBytes).toBe(lora.memory.breakdown.trainingStateBytes)
    expect(q.memory.breakdown.activationBytes).toBe(lora.memory.breakdown.activationBytes)
    expect(q.memory.breakdown.weightBytes).toBeLessThan(lora.memory.breakdown.weightBytes / 2)
  })

  it('counts the saved tensors on the QLoRA graph itself (scaled count = whole-graph count)', () => {
    const tiny = { ...benchConfig({ layers: 3, d: 64, heads: 4, kvHeads: 2, ffn: 96, vocab: 128 }) }
    const whole = graphSavedBytes(buildSortedTrainGraph({ config: tiny, exits: [2, 3], batchSize: 2, seqLen: 8, mode: 'step', adapter: qlora }).graph)
    expect(savedActivationBytes(tiny, { batchSize: 2, seqLen: 8, graphExits: 2, adapter: qlora })).toBe(whole)
  })
})

describe('predicted peaks against the peak RSS (MiB) measured by tests/bench/train.bench.ts (README, "train" rows)', () => {
  const bench = benchConfig({ layers: 16, d: 1024, heads: 16, kvHeads: 4, ffn: 2816, vocab: 32000 })
  const qwen = { ...benchConfig({ layers: 24, d: 896, heads: 14, kvHeads: 2, ffn: 4864, vocab: 151936 }), tieWordEmbeddings: true }
  const quick = benchConfig({ layers: 4, d: 256, heads: 4, kvHeads: 2, ffn: 704, vocab: 4096 })
  const llama1b = { ...benchConfig({ layers: 16, d: 2048, heads: 32, kvHeads: 8, ffn: 8192, vocab: 128256 }), tieWordEmbeddings: true }
  const qlora16 = { ...lora16, quantizedBase: { bits: 4 as const, blockSize: 32 as const } }
  const d1024 = { exits: [4, 8, 12, 16], batchSize: 4, seqLen: 256 }
  const qwenStep = { mode: 'soft' as const, exits: [6, 12, 18, 24], batchSize: 1, seqLen: 512 }
  const quickStep = { exits: [2, 4], batchSize: 2, seqLen: 64 }
  // Measured with glibc's allocator tuned as the app starts it (scripts/malloc-tuning.mjs), the trainer's ORT arena off.
  const cases = [
    { name: 'd1024 full SFT 4×256', config: bench, step: { ...d1024, mode: 'sft' as const }, measuredMib: 6_101 },
    { name: 'd1024 full SoFT 4×256', config: bench, step: { ...d1024, mode: 'soft' as const }, measuredMib: 6_649 },
    { name: 'd1024 SFT + LoRA r16 4×256', config: bench, step: { ...d1024, mode: 'sft' as const, adapter: lora16 }, measuredMib: 3_412 },
    { name: 'd1024 SoFT + LoRA r16 4×256', config: bench, step: { ...d1024, mode: 'soft' as const, adapter: lora16 }, measuredMib: 3_537 },
    { name: 'd1024 SoFT + QLoRA r16 4×256', config: bench, step: { ...d1024, mode: 'soft' as const, adapter: qlora16 }, measuredMib: 3_013 },
    { name: 'd1024 full SoFT 4×256, recomputed', config: bench, step: { ...d1024, mode: 'soft' as const, recompute: true }, measuredMib: 4_941 },
    { name: 'd1024 SoFT + LoRA r16 4×256, recomputed', config: bench, step: { ...d1024, mode: 'soft' as const, adapter: lora16, recompute: true }, measuredMib: 1_887 },
    { name: 'd1024 SoFT + QLoRA r16 4×256, recomputed', config: bench, step: { ...d1024, mode: 'soft' as const, adapter: qlora16, recompute: true }, measuredMib: 1_432 },
    { name: 'Qwen2.5-0.5B SoFT + LoRA r16 1×512', config: qwen, step: { ...qwenStep, adapter: lora16 }, measuredMib: 4_834 },
    { name: 'Qwen2.5-0.5B SoFT + QLoRA r16 1×512', config: qwen, step: { ...qwenStep, adapter: qlora16 }, measuredMib: 3_726 },
    { name: 'Qwen2.5-0.5B SoFT + LoRA r16 1×512, recomputed', config: qwen, step: { ...qwenStep, adapter: lora16, recompute: true }, measuredMib: 2_671 },
    { name: 'Qwen2.5-0.5B SoFT + QLoRA r16 1×512, recomputed', config: qwen, step: { ...qwenStep, adapter: qlora16, recompute: true }, measuredMib: 1_635 },
    { name: 'Llama-3.2-1B SoFT + QLoRA r16 1×512, recomputed', config: llama1b, step: { mode: 'soft' as const, exits: [4, 8, 12, 16], batchSize: 1, seqLen: 512, adapter: qlora16, recompute: true }, measuredMib: 3_036 },
    { name: 'quick full SFT 2×64', config: quick, step: { ...quickStep, mode: 'sft' as const }, measuredMib: 269 },
    { name: 'quick full SoFT 2×64', config: quick, step: { ...quickStep, mode: 'soft' as const }, measuredMib: 277 },
    { name: 'quick full SortedNet 2×64', config: quick, step: { ...quickStep, mode: 'sortednet' as const }, measuredMib: 293 },
    { name: 'quick SoFT + LoRA r16 2×64', config: quick, step: { ...quickStep, mode: 'soft' as const, adapter: lora16 }, measuredMib: 209 },
    { name: 'quick SoFT + QLoRA r16 2×64', config: quick, step: { ...quickStep, mode: 'soft' as const, adapter: qlora16 }, measuredMib: 221 },
    { name: 'quick full SoFT 2×64, recomputed', config: quick, step: { ...quickStep, mode: 'soft' as const, recompute: true }, measuredMib: 259 },
    { name: 'quick SoFT + LoRA r16 2×64, recomputed', config: quick, step: { ...quickStep, mode: 'soft' as const, adapter: lora16, recompute: true }, measuredMib: 207 },
  ]
  for (const { name, config, step, measuredMib } of cases) {
    it(`${name}: within ±20 % of ${measuredMib} MiB`, () => {
      const predictedMib = planStep(config, step).memory.peakBytes / 1024 ** 2
      expect(Math.abs(predictedMib / measuredMib - 1)).toBeLessThanOrEqual(0.2)
    })
  }
})

describe('what fits when a plan does not', () => {
  const bench = benchConfig({ layers: 16, d: 1024, heads: 16, kvHeads: 4, ffn: 2816, vocab: 32000 })
  const step = { mode: 'soft' as const, exits: [4, 8, 12, 16], batchSize: 16, seqLen: 256 }

  it('proposes the largest batch whose predicted peak is within the budget', () => {
    const at = (batchSize: number) => planStep(bench, { ...step, batchSize }).memory.peakBytes
    const fit = fitMemory(bench, step, at(6) + 1)
    expect(fit.fits).toBe(false)
    expect(fit.largestBatch).toBe(6)
  })

  it('proposes QLoRA when neither a batch nor LoRA on the fp32 base fits, and QLoRA does', () => {
    const at = (adapter: TrainedAdapter) => planStep(bench, { ...step, batchSize: 1, adapter }).memory.peakBytes
    const qlora = { ...lora16, quantizedBase: { bits: 4 as const, blockSize: 32 as const } }
    const budget = (at(lora16) + at(qlora)) / 2
    const full = fitMemory(bench, step, budget)
    expect(full).toMatchObject({ fits: false, largestBatch: 0, adapterFits: false, qloraFits: true })
    expect(proposal(full, step, (s) => `--${s}`)).toBe('No batch fits with every weight trained, nor with LoRA; QLoRA (--adapter qlora: the same adapter on the base held 4-bit) at --batchSize 1 fits.')
    const lora = fitMemory(bench, { ...step, adapter: lora16 }, budget)
    expect(proposal(lora, { ...step, adapter: lora16 }, (s) => `--${s}`)).toBe('No batch fits with the fp32 base; QLoRA (--adapter qlora: the same adapter on the base held 4-bit) at --batchSize 1 fits.')
    expect(fitMemory(bench, { ...step, adapter: qlora }, at(qlora) - 1).qloraFits).toBeUndefined()
  })

  it('proposes a LoRA adapter when no batch of a full fine-tuning run fits', () => {
    // Full fine-tuning of 246 M parameters needs 3.9 GB before any activation (16 bytes a parameter), 5.1 GB at batch 1.
    const fit = fitMemory(bench, step, 4.5e9)
    expect(fit.largestBatch).toBe(0)
    expect(fit.adapterFits).toBe(true)
  })
})

describe('activation recomputation in the plan', () => {
  const bench = benchConfig({ layers: 16, d: 1024, heads: 16, kvHeads: 4, ffn: 2816, vocab: 32000 })
  const step = { mode: 'soft' as const, exits: [4, 8, 12, 16], batchSize: 1, seqLen: 256, adapter: lora16 }
  const off = planStep(bench, { ...step, recompute: false })
  const on = planStep(bench, { ...step, recompute: true })

  it('keeps one [B, T, d] tensor per layer plus one layer\'s activations while its backward runs, and costs one more forward of the layers', () => {
    const perLayerOff = savedActivationBytes(bench, { batchSize: 1, seqLen: 256, graphExits: 1, adapter: lora16 }) / 16
    expect(on.memory.breakdown.activationBytes).toBeLessThan(off.memory.breakdown.activationBytes / 4)
    expect(on.memory.breakdown.activationBytes).toBeGreaterThan(perLayerOff)
    expect(on.memory.breakdown.weightBytes).toBe(off.memory.breakdown.weightBytes)
    expect(on.stepSeconds).toBeGreaterThan(off.stepSeconds)
  })

  it('auto turns it on exactly when the step without it would not fit the budget', () => {
    expect(resolveRecompute(bench, step, 'auto', off.memory.peakBytes)).toBe(false)
    expect(resolveRecompute(bench, step, 'auto', off.memory.peakBytes - 1)).toBe(true)
    expect(resolveRecompute(bench, step, 'on', 1e15)).toBe(true)
    expect(resolveRecompute(bench, step, 'off', 1)).toBe(false)
  })

  it('with it off, a step that no batch fits but recomputation would is proposed --recompute on', () => {
    const budget = (on.memory.peakBytes + planStep(bench, { ...step, recompute: false, batchSize: 1 }).memory.peakBytes) / 2
    const fit = fitMemory(bench, { ...step, recompute: false }, budget)
    expect(fit).toMatchObject({ fits: false, largestBatch: 0, recomputeFits: true })
    expect(proposal(fit, step, (s) => `--${s}`)).toBe("--recompute on fits (each layer's activations recomputed in the backward: about a third more time a step).")
  })
})

