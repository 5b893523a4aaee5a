/**
 * The memory planner: the peak resident memory of a training run, predicted
 * before it starts from the model's shape, the adapter, the batch, the
 * sequence length and the exits one graph computes. Every tensor is fp32
 * except a QLoRA base's 4-bit Linears; activation recomputation does not
 * exist in this engine (every saved tensor stays until its backward node
 * runs), so it is not modelled.
 *
 * What is resident at the peak of one training step:
 *  - every weight, 4 bytes a parameter (the frozen base of an adapter run too),
 *    except a QLoRA base's decoder Linears: their 4-bit codes and float scales
 *    (weight-size.ts quantizedMatrixBytes), plus the fp32 copy of one of them
 *    that the backward pass rebuilds where it needs it (its largest, twice:
 *    the cast codes and the scaled weight exist together), counted with the
 *    weights as {@link MemoryPlanInput.weightBytes};
 *  - for each trained parameter only: its gradient and AdamW's two moments,
 *    12 bytes (16 with the weight itself): the trainer trains the weights in
 *    place and applies AdamW in place (adamw-in-place.ts). As the gradients
 *    graph returns, ONNX Runtime's gradients and Node's copy of them exist
 *    together (4 bytes more), but the saved tensors are gone by then;
 *  - the forward tensors the backward reads (saved-activations.ts, counted on
 *    the graph). The logits are not among them: the fused LM head +
 *    cross-entropy recomputes them in its backward;
 *  - ONNX Runtime's arena above those tensors: the backward's transient
 *    gradients and the arena's rounding, {@link arenaFactor} of the saved
 *    tensors;
 *  - the process itself (Node, ONNX Runtime, the serialized graph):
 *    {@link runtimeBytes}. (A run that trains every weight used to hold
 *    100 MB more, fitted; with the step in place the quick shape's full run
 *    holds 46 MiB more than its LoRA run, its moments and gradients, so the
 *    term is gone.)
 *
 * Calibration: peak RSS measured by tests/bench/train.bench.ts (maxRSS,
 * MiB) on the 16-layer d1024 shape, batch 4 × 256 (full SFT / SoFT 7 385 /
 * 7 941 MiB with AdamW in place, 11 969 / 12 262 before; SoFT + LoRA r16
 * 5 294, 5 249 and 5 263, SFT + LoRA 5 223), the Qwen2.5-0.5B shape SoFT +
 * LoRA r16 1 × 512 (7 269 MiB), the quick shape (full 254–275 MiB, LoRA
 * 208–218) and SoFT + QLoRA r16 on the d1024 shape (4 765 MiB). Full
 * SortedNet (10 146 MiB) is above its prediction: see the README's
 * "memory planner" row. The arena factor is the line
 * through the LoRA peaks minus the exact terms (quick and d1024), refitted
 * when QLoRA showed that the transposed weights the saved count used to
 * include are not held (saved-activations.ts): every prediction lands
 * within 4 % of its measurement except full SFT's on d1024 (+7 %) and the
 * Qwen shape's (−12 %: its 152k
 * vocabulary's logits, recomputed in the backward, are a transient this
 * model does not count) (README, "train" and "memory planner" rows).
 */

/** Arena and transient backward memory per byte of saved tensors. */
export const arenaFactor = 0.82
/** The training process before any tensor. */
export const runtimeBytes = 160e6

const bytesPerFloat = 4
/** The gradient and AdamW's two moments (the weight is counted with the weights); 7 floats when the step was one graph. */
export const bytesPerTrainedParameter = 3 * bytesPerFloat

export interface MemoryPlanInput {
  /** Every parameter of the model. */
  parameters: number
  /** The weights' bytes when not 4 a parameter (a QLoRA base, with its transient dequantized Linear). */
  weightBytes?: number
  /** Parameters with gradients and optimizer state (all for full fine-tuning; the adapter's for LoRA). */
  trainedParameters: number
  /** Bytes of the forward tensors the backward reads (saved-activations.ts). */
  savedActivationBytes: number
  /** With activation recomputation: one layer's activations, rebuilt during its backward (saved-activations.ts). */
  recomputedLayerBytes?: number
}

export interface MemoryPlan {
  peakBytes: number
  breakdown: {
    weightBytes: number
    /** Gradients and AdamW moments, for trained parameters only. */
    trainingStateBytes: number
    activationBytes: number
    arenaBytes: number
    runtimeBytes: number
  }
}

export function planMemory(input: MemoryPlanInput): MemoryPlan {
  const breakdown = {
    weightBytes: input.weightBytes ?? input.parameters * bytesPerFloat,
    trainingStateBytes: input.trainedParameters * bytesPerTrainedParameter,
    activationBytes: input.savedActivationBytes + (input.recomputedLayerBytes ?? 0),
    arenaBytes: (input.savedActivationBytes + (input.recomputedLayerBytes ?? 0)) * arenaFactor,
    runtimeBytes,
  }
  const peakBytes = Object.values(breakdown).reduce((a, b) => a + b, 0)
  return { peakBytes, breakdown }
}
