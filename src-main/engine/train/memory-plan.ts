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
 *  - for each trained parameter only: its gradient and its clipped copy (8),
 *    AdamW's two moments (8), and the step graph's outputs, the updated
 *    weight and moments (12), which exist beside the inputs until the step
 *    returns: 28 bytes;
 *  - the forward tensors the backward reads (saved-activations.ts, counted on
 *    the graph). The logits are not among them: the fused LM head +
 *    cross-entropy recomputes them in its backward;
 *  - ONNX Runtime's arena above those tensors: the backward's transient
 *    gradients and the arena's rounding, {@link arenaFactor} of the saved
 *    tensors;
 *  - the process itself (Node, ONNX Runtime, the serialized graph):
 *    {@link runtimeBytes}; a run that trains every weight holds
 *    {@link fullTrainingBytes} more (fitted; its cause is not pinned down).
 *
 * Calibration: peak RSS measured by tests/bench/train.bench.ts (maxRSS,
 * MiB) on the 16-layer d1024 shape, batch 4 × 256 (full SFT / SoFT /
 * SortedNet 11 969 / 12 262 / 12 203 MiB; SoFT + LoRA r16 5 294 and 5 249,
 * SFT + LoRA 5 223), the Qwen2.5-0.5B shape SoFT + LoRA r16 1 × 512
 * (7 269 MiB), the quick shape (full 414–446 MiB, LoRA 215–218) and SoFT +
 * QLoRA r16 on the d1024 shape (4 765 MiB). The arena factor is the line
 * through the LoRA peaks minus the exact terms (quick and d1024), refitted
 * when QLoRA showed that the transposed weights the saved count used to
 * include are not held (saved-activations.ts): every prediction lands
 * within 4 % of its measurement except the Qwen shape's (−10 %: its 152k
 * vocabulary's logits, recomputed in the backward, are a transient this
 * model does not count) (README, "train" and "memory planner" rows).
 */

/** Arena and transient backward memory per byte of saved tensors. */
export const arenaFactor = 0.82
/** The training process before any tensor. */
export const runtimeBytes = 160e6
/** What a full fine-tuning step holds above an adapter step beyond its per-parameter state (quick shape: ~90 MB; d1024: 0.3–0.6 GB). */
export const fullTrainingBytes = 100e6

const bytesPerFloat = 4
/** Gradient, clipped gradient, two AdamW moments, and the updated weight and moments the step returns. */
export const bytesPerTrainedParameter = 7 * bytesPerFloat

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
    /** Gradients, AdamW moments and the step's updated copies, for trained parameters only. */
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
    runtimeBytes: runtimeBytes + (input.trainedParameters >= input.parameters ? fullTrainingBytes : 0),
  }
  const peakBytes = Object.values(breakdown).reduce((a, b) => a + b, 0)
  return { peakBytes, breakdown }
}
