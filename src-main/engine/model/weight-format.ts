/**
 * How a loaded model's inference graphs hold its weights: the precision a
 * user picked (fp32, int8, int4), the block size, and what follows from it.
 *
 *   - Decoder linear layers (q, k, v, o, gate, up, down) are block-quantized
 *     and run by MatMulNBits with accuracy_level 4: activations are rounded
 *     to int8 per block inside the kernel, ONNX Runtime's fast CPU path.
 *   - The LM head is int8 whenever the layers are quantized (as
 *     onnxruntime-genai's builder does): it is the largest single matrix a
 *     token reads (vocab × d). Measured (decode bench, 16 layers, d 1024,
 *     vocab 32k): with int4 layers an int8 head decodes 65 vs 52 tokens/s at
 *     full depth and 134 vs 85 at half depth, and holds 80 MB less; with int8
 *     layers speed is unchanged. On the bundled SoFT model's held-out loss it
 *     costs at most 0.0001 nats (heldout-loss bench).
 *   - The embedding stays fp32: a token reads one row of it (a Gather), so
 *     quantizing it saves memory but no time. A tied model keeps the fp32
 *     embedding for the Gather and a quantized copy as its head.
 *   - Norms and biases stay fp32 (a few thousand values per layer).
 */
import type { QuantizationSettings, WeightPrecision } from './quant/linear'

export type { WeightPrecision }

/** Block sizes a user may pick for RTN quantization. */
export const USER_BLOCK_SIZES = [32, 64, 128] as const
export type UserBlockSize = (typeof USER_BLOCK_SIZES)[number]

export interface WeightFormat {
  precision: WeightPrecision
  /** Values per quantization block along K (ignored for fp32). */
  blockSize: UserBlockSize
  /** The LM head: fp32, or int8 (block `blockSize`). */
  lmHead: 'fp32' | 'int8'
  /** MatMulNBits accuracy_level: 4 = int8 activations (the fast path), 0 = fp32 activations (a reference). */
  accuracyLevel: 0 | 4
}

export const FP32_WEIGHTS: WeightFormat = { precision: 'fp32', blockSize: 32, lmHead: 'fp32', accuracyLevel: 4 }

/**
 * Bumped whenever quantization or the quantized graphs change in a way the
 * fp32 graph bytes do not show (rounding rule, layout, node attributes): it is
 * part of the compiled-graph cache key, so old quantized entries stop matching.
 */
export const QUANTIZED_GRAPH_VERSION = 1

/** The format for a user's choice; `lmHead` and `accuracyLevel` overrides are for benchmarks and tests. */
export function weightFormat(settings: QuantizationSettings & { lmHead?: WeightFormat['lmHead']; accuracyLevel?: 0 | 4 } = { precision: 'fp32' }): WeightFormat {
  if (settings.precision === 'fp32') return FP32_WEIGHTS
  return {
    precision: settings.precision,
    blockSize: settings.blockSize ?? 32,
    lmHead: settings.lmHead ?? 'int8',
    accuracyLevel: settings.accuracyLevel ?? 4,
  }
}

export function isQuantized(format: WeightFormat): boolean {
  return format.precision !== 'fp32'
}

/**
 * What distinguishes this format's graphs from the fp32 graph built from the
 * same weights: the compiled-graph cache keys a quantized graph by the fp32
 * graph's bytes plus this tag, so quantizing happens once per model and format.
 */
export function formatTag(format: WeightFormat): string {
  if (!isQuantized(format)) return ''
  return `weights=${format.precision};block=${format.blockSize};lm_head=${format.lmHead};accuracy=${format.accuracyLevel};v${QUANTIZED_GRAPH_VERSION}`
}

/** What a loaded model reports about its weights (the contract's LoadedWeights). */
export interface WeightsInfo {
  precision: WeightPrecision
  blockSize?: UserBlockSize
  lmHead?: 'fp32' | 'int8'
}

export function weightsInfo(format: WeightFormat): WeightsInfo {
  if (!isQuantized(format)) return { precision: 'fp32' }
  return { precision: format.precision, blockSize: format.blockSize, lmHead: format.lmHead }
}

/** For people: "int4 (block 32, LM head int8)". */
export function describeFormat(format: WeightFormat): string {
  if (!isQuantized(format)) return 'fp32'
  return `${format.precision} (block ${format.blockSize}, LM head ${format.lmHead})`
}
