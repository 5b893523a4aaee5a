/**
 * The memory planner: the peak resident memory of a training run, predicted
 * before it starts from the model's shape, the adapter, the batch, the
 * sequence length, the exits one graph computes and whether each layer's
 * activations are recomputed. Every tensor is fp32 except a QLoRA base's
 * 4-bit Linears.
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
 *    place and applies AdamW in place (adamw-in-place.ts);
 *  - the forward tensors the backward reads (saved-activations.ts, counted on
 *    the graph), and ONNX Runtime's allocations around them (the backward's
 *    transient gradients), {@link arenaFactor} of them;
 *  - with recomputation, one layer's activations as its backward rebuilds
 *    them, and that backward's transients, {@link recomputedLayerFactor}
 *    times those activations in all;
 *  - the LM head's cross-entropy, whose logits go in chunks of rows
 *    (onnx/ops/fused.ts): {@link logitChunks} chunks' worth at once;
 *  - the process itself (Node, ONNX Runtime, the graphs): {@link runtimeBytes}.
 *
 * Calibration: the four constants are fitted to the peak RSS of
 * tests/bench/train.bench.ts (maxRSS, MiB; glibc's allocator tuned as the app
 * starts it, scripts/malloc-tuning.mjs) on 22 runs: the d1024 shape 4 × 256
 * (full SFT, full SoFT, LoRA, QLoRA, each with and without recomputation),
 * the Qwen2.5-0.5B shape 1 × 512 (LoRA and QLoRA with and without), the
 * Llama-3.2-1B shape 1 × 512 (QLoRA with) and the quick shape (every mode):
 * every prediction is within 16 % of its measurement. Not within: full SoFT
 * of the Qwen2.5-0.5B shape (predicted 8.3 GB, measured 11.9 GB): ONNX
 * Runtime's gradients and Node's copy of them, together as the run returns,
 * and its tied 152k-vocabulary head's gradient transients are not modelled
 * (README, "memory planner" row).
 */

/** ONNX Runtime's allocations around the saved tensors, per byte of them. */
export const arenaFactor = 0.3
/** A recomputed layer's activations and its backward's transients, per byte of the activations. */
export const recomputedLayerFactor = 4
/** Chunks of the LM head's logits alive at once (the chunk's logits and their gradient). */
export const logitChunks = 2
/** The training process before any tensor. */
export const runtimeBytes = 200e6

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
  /** One chunk of the LM head's logits (rows × vocabulary × 4: onnx/ops/fused.ts). */
  logitChunkBytes?: number
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
    // What the backward keeps, one recomputed layer's activations and the head's logit chunks.
    activationBytes: input.savedActivationBytes + (input.recomputedLayerBytes ?? 0) + logitChunks * (input.logitChunkBytes ?? 0),
    // What ONNX Runtime allocates around them.
    arenaBytes: input.savedActivationBytes * arenaFactor + (input.recomputedLayerBytes ?? 0) * (recomputedLayerFactor - 1),
    runtimeBytes,
  }
  const peakBytes = Object.values(breakdown).reduce((a, b) => a + b, 0)
  return { peakBytes, breakdown }
}
