/**
 * How long a fine-tuning run will take and how much memory it needs, before
 * it starts. Rough by nature (an estimate is all a user gets before hours of
 * work); every figure it rests on is named here so that a better measurement
 * changes one constant.
 *
 * Time: a training step costs ≈ 6 FLOPs per trained parameter per token
 * (forward 2, backward 4: the input's gradient and the weight's) and 4 per
 * frozen one (an adapter run's base: no weight gradient). SoFT adds, per
 * exit beyond the full model, one more pass of the LM head (vocab × hidden)
 * forward and backward: 6 (or, frozen, 4) · V · d per token. SortedNet runs
 * the full model and one sampled sub-model per step: the sub-model costs its
 * own parameters (the layers above it are not run), averaged over the exits
 * it may draw. Activation recomputation runs every layer's forward once
 * more: 2 FLOPs per layer parameter per token. Validation is forward only (2 FLOPs per parameter per token).
 * Measured on this project's CPU runs, training proceeds at about
 * {@link cpuFlopsPerSecond}: one rate for a run that trains every weight,
 * a higher one for an adapter run (no AdamW over the base, no weight-gradient
 * products, half the memory traffic).
 *
 * Memory: fp32 parameters, their gradients and AdamW's two moments
 * (16 bytes per parameter; 4 for a frozen one of an adapter run); activations kept for the backward pass
 * (batch · seqLen · hidden · layers · {@link activationFactor} fp32 values);
 * attention scores and probabilities (batch · heads · seqLen² · layers · 2);
 * and the logits of every exit one graph computes (batch · seqLen · vocab ·
 * 4 bytes · exits).
 */
import type { ModelConfig } from '../model/types'
import { slotSize, weightSlots } from '../model/weight-map'
import type { TrainMode } from './trainer'

/**
 * FLOP/s this project's CPU training reaches, by the FLOP count above:
 * fitted on the train bench (16 layers, d1024, vocab 32k, batch 4 × 256, 2
 * cores): full SFT 147.6 tokens/s = 218 GFLOP/s, full SoFT 101.9 = 210;
 * SFT + LoRA r16 255.3 = 258, SoFT + LoRA 177.5 = 249 (with recomputation
 * 228 and 297: its extra forward is counted). Until AdamW ran in place and
 * the weights were read without transposed copies, the rates were 52 and 86.
 */
export const cpuFlopsPerSecond = { full: 215e9, adapter: 255e9 } as const

/**
 * fp32 values per hidden unit, per token, per layer, the backward pass keeps:
 * the two RMSNorm inputs and outputs (4), q, k, v and the attention output
 * (≈ 4, fewer with GQA), the o-projection output (1), and the SwiGLU's gate,
 * up and product (3 × intermediate ≈ 3 × 2.7 hidden ≈ 8), plus the residual
 * sums (1): about 18.
 */
export const activationFactor = 18

const bytesPerFloat = 4

/** The sizes of a model the estimate needs. */
export interface ModelShape {
  /** Every trained parameter. */
  parameters: number
  /** Parameters of one transformer layer. */
  layerParameters: number
  layers: number
  hidden: number
  heads: number
  vocab: number
}

export function modelShape(config: ModelConfig): ModelShape {
  let parameters = 0
  let layerParameters = 0
  for (const slot of weightSlots(config)) {
    const size = slotSize(slot)
    parameters += size
    if (slot.layer === 0) layerParameters += size
  }
  return { parameters, layerParameters, layers: config.numLayers, hidden: config.hiddenSize, heads: config.numHeads, vocab: config.vocabSize }
}

export interface EstimatePlan {
  mode: TrainMode
  /** Configured exits, ascending, ending with the full model. */
  exits: number[]
  /** Rows per micro-batch. */
  batchSize: number
  seqLen: number
  gradAccum: number
  steps: number
  /** Micro-batches of one pass over the validation set (0: none). */
  validationBatches: number
  /** How many times the validation set is evaluated. */
  validations: number
  /**
   * Parameters the optimizer updates, when not every one (an adapter run: the base is frozen,
   * so only these have gradients and AdamW moments); default all of them.
   */
  trainedParameters?: number
  /** Activation recomputation: every layer's forward runs again in the backward. */
  recompute?: boolean | undefined
}

export interface RunEstimate {
  steps: number
  /** Token positions one optimizer step processes (padding included: the graphs have fixed shapes). */
  tokensPerStep: number
  seconds: number
  memoryBytes: number
  breakdown: {
    trainFlops: number
    validationFlops: number
    flopsPerSecond: number
    parameterBytes: number
    gradientBytes: number
    optimizerBytes: number
    activationBytes: number
    attentionBytes: number
    logitBytes: number
  }
}

export function estimateRun(shape: ModelShape, plan: EstimatePlan): RunEstimate {
  const { parameters: P, layerParameters, layers: L, hidden: d, heads, vocab: V } = shape
  const { batchSize: B, seqLen: T } = plan
  const head = V * d
  const tokensPerStep = B * T * plan.gradAccum
  const trained = plan.trainedParameters ?? P
  const adapterRun = trained < P
  // FLOPs per token a base parameter costs (4 when frozen: no weight gradient), and the adapter's own.
  const perParameter = adapterRun ? 4 : 6
  const adapterFlops = adapterRun ? 6 * trained : 0
  // The exits whose loss one graph computes, and the FLOPs per token of a step.
  let graphExits: number
  let perToken: number
  if (plan.mode === 'sft') {
    graphExits = 1
    perToken = perParameter * P + adapterFlops
  } else if (plan.mode === 'soft') {
    graphExits = plan.exits.length
    perToken = perParameter * P + perParameter * head * (plan.exits.length - 1) + adapterFlops
  } else {
    graphExits = 1
    const others = plan.exits.filter((e) => e !== L)
    const subModel = others.length === 0 ? 0 : others.reduce((sum, e) => sum + perParameter * (P - (L - e) * layerParameters), 0) / others.length
    perToken = perParameter * P + subModel + adapterFlops
  }
  if (plan.recompute) perToken += 2 * L * layerParameters
  const flopsPerSecond = adapterRun ? cpuFlopsPerSecond.adapter : cpuFlopsPerSecond.full
  const evaluatedExits = plan.mode === 'sft' ? 1 : plan.exits.length
  const trainFlops = plan.steps * tokensPerStep * perToken
  const validationFlops = plan.validations * plan.validationBatches * B * T * 2 * (P + head * (evaluatedExits - 1))

  const parameterBytes = P * bytesPerFloat
  const gradientBytes = trained * bytesPerFloat
  const optimizerBytes = 2 * trained * bytesPerFloat
  const activationBytes = B * T * d * L * activationFactor * bytesPerFloat
  const attentionBytes = B * heads * T * T * L * 2 * bytesPerFloat
  const logitBytes = B * T * V * bytesPerFloat * graphExits
  return {
    steps: plan.steps,
    tokensPerStep,
    seconds: (trainFlops + validationFlops) / flopsPerSecond,
    memoryBytes: parameterBytes + gradientBytes + optimizerBytes + activationBytes + attentionBytes + logitBytes,
    breakdown: {
      trainFlops,
      validationFlops,
      flopsPerSecond,
      parameterBytes,
      gradientBytes,
      optimizerBytes,
      activationBytes,
      attentionBytes,
      logitBytes,
    },
  }
}
