/**
 * Before a model is read: how much memory it will hold once loaded for
 * generation in a given weight precision, and a refusal naming a precision
 * that fits when the machine does not have it.
 *
 * The estimate, from config.json alone:
 *
 *   weights   every tensor at the size the inference graphs hold it
 *             (model/weight-format.ts): fp32 = 4 bytes a value; int8/int4
 *             decoder Linears as MatMulNBits B + fp32 scales per block (+ zero
 *             points for asymmetric GPTQ/AWQ), the LM head int8, embedding,
 *             norms and biases fp32 (a tied model adds the int8 head copy).
 *   KV cache  float32 K and V for every layer over the context the estimate
 *             plans for: the model's context, at most 4096 tokens. The cache
 *             grows with the conversation, and planning for a 128k context
 *             would refuse every model for a length few conversations reach.
 *   runtime   ONNX Runtime's own share: 256 MiB (the library, one session per
 *             layer, one token's activations without an arena) plus 10% of the
 *             weights (per-session bookkeeping and kernels' packed copies).
 *
 * Available memory is os.freemem(): on Linux libuv reads MemAvailable, which
 * counts reclaimable page cache but not memory other programs hold. totalmem()
 * would let a load push the machine into swap while a browser holds half of
 * it. On a GPU provider the weights live in VRAM, whose size Node cannot read:
 * the check is skipped there (the caller says so).
 */
import { blockSizeForGroup, effectiveGroupSize } from '../model/quant/grouped'
import { matmulNBitsShapes, type BlockSize, type QuantBits } from '../model/quant/blockwise'
import type { PrequantizedConfig } from '../model/quant/prequantized-config'
import { isLeftUnquantized } from '../model/prequantized-weights'
import type { ModelConfig } from '../model/types'
import type { WeightPrecision } from '../model/weight-format'
import { outerSlots, slotSize, weightSlots } from '../model/weight-map'
import { contextLength } from './context'

/** The longest context the estimate plans a KV cache for. */
export const PLANNED_CONTEXT_TOKENS = 4096
const RUNTIME_FIXED_BYTES = 256 * 2 ** 20
const RUNTIME_WEIGHT_FRACTION = 0.1

export interface MemoryEstimate {
  precision: WeightPrecision
  weightBytes: number
  kvCacheBytes: number
  /** Tokens the KV cache is planned for. */
  contextTokens: number
  runtimeBytes: number
  totalBytes: number
}

function nbitsBytes(n: number, k: number, bits: QuantBits, blockSize: BlockSize, zeroPoints: boolean): number {
  const shapes = matmulNBitsShapes({ n, k, bits, blockSize })
  const count = (s: number[]) => s.reduce((a, b) => a * b, 1)
  return count(shapes.b) + 4 * count(shapes.scales) + (zeroPoints ? count(shapes.zeroPoints) : 0)
}

/** Bytes the inference graphs hold for the weights of `config` in `precision` (`blockSize` for RTN and the LM head). */
export function weightBytes(config: ModelConfig, precision: WeightPrecision, blockSize: 32 | 64 | 128, prequantized?: PrequantizedConfig): number {
  let total = 0
  for (const slot of weightSlots(config)) {
    const [n, k] = slot.shape as [number, number]
    if (slot.role !== 'linear' || precision === 'fp32') total += 4 * slotSize(slot)
    else if (prequantized) {
      if (isLeftUnquantized(slot, prequantized)) total += 4 * slotSize(slot)
      else {
        const block = blockSizeForGroup(effectiveGroupSize(prequantized.groupSize, k), k, slot.name)
        total += nbitsBytes(n, k, 4, block, prequantized.method === 'awq' || !prequantized.sym)
      }
    } else total += nbitsBytes(n, k, precision === 'int8' ? 8 : 4, blockSize, false)
  }
  if (precision !== 'fp32') {
    // The head becomes int8: an untied head's fp32 bytes counted above are replaced; a tied one adds a copy.
    const head = nbitsBytes(config.vocabSize, config.hiddenSize, 8, blockSize, false)
    total += outerSlots(config).head ? head - 4 * config.vocabSize * config.hiddenSize : head
  }
  return total
}

export function estimateMemory(config: ModelConfig, precision: WeightPrecision, blockSize: 32 | 64 | 128 = 32, prequantized?: PrequantizedConfig): MemoryEstimate {
  const contextTokens = Math.min(contextLength(config), PLANNED_CONTEXT_TOKENS)
  const weights = weightBytes(config, precision, blockSize, prequantized)
  const kvCacheBytes = config.numLayers * 2 * config.numKvHeads * config.headDim * contextTokens * 4
  const runtimeBytes = RUNTIME_FIXED_BYTES + Math.round(RUNTIME_WEIGHT_FRACTION * weights)
  return { precision, weightBytes: weights, kvCacheBytes, contextTokens, runtimeBytes, totalBytes: weights + kvCacheBytes + runtimeBytes }
}

/** The model does not fit in the memory available; `fits` is the first lighter precision that does, if any. */
export class InsufficientMemoryError extends Error {
  constructor(
    readonly estimate: MemoryEstimate,
    readonly availableBytes: number,
    readonly fits: MemoryEstimate | undefined,
    /** How the user picks a precision where this is reported: the app's setting, or a CLI flag. */
    readonly howToPick: (precision: WeightPrecision) => string = (p) => `load it with weights ${p}`,
  ) {
    const e = estimate
    const advice = fits
      ? `in ${fits.precision} it needs about ${gb(fits.totalBytes)}, which fits: ${howToPick(fits.precision)}`
      : 'no precision fits (int4 is the smallest): close other programs or use a smaller model'
    super(
      `not enough memory to load this model in ${e.precision}: it needs about ${gb(e.totalBytes)} ` +
        `(weights ${gb(e.weightBytes)}, KV cache for ${e.contextTokens} tokens ${gb(e.kvCacheBytes)}, runtime ${gb(e.runtimeBytes)}) ` +
        `and ${gb(availableBytes)} is available; ${advice}`,
    )
    this.name = 'InsufficientMemoryError'
  }
}

function gb(bytes: number): string {
  return `${(bytes / 1e9).toFixed(2)} GB`
}

/**
 * Throws InsufficientMemoryError when the estimate for `precision` exceeds
 * `availableBytes`, naming the first of int8, int4 (lighter than asked) that
 * fits. A pre-quantized model has only its own precision.
 */
export function checkMemory(config: ModelConfig, precision: WeightPrecision, blockSize: 32 | 64 | 128, availableBytes: number, prequantized?: PrequantizedConfig): MemoryEstimate {
  const estimate = estimateMemory(config, precision, blockSize, prequantized)
  if (estimate.totalBytes <= availableBytes) return estimate
  const lighter: WeightPrecision[] = prequantized ? [] : precision === 'fp32' ? ['int8', 'int4'] : precision === 'int8' ? ['int4'] : []
  const fits = lighter.map((p) => estimateMemory(config, p, blockSize)).find((e) => e.totalBytes <= availableBytes)
  throw new InsufficientMemoryError(estimate, availableBytes, fits)
}
