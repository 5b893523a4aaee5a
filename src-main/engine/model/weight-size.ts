/**
 * How many bytes a model's weights take in memory at each precision, from
 * its config alone (no weight is read), so the app can show the choice before
 * a model loads. The arithmetic follows what the inference graphs hold
 * (weight-format.ts, quant/blockwise.ts):
 *
 *   - fp32: 4 bytes per parameter.
 *   - int8 / int4 decoder linear layers [N, K]: N · ceil(K / block) blocks, each
 *     block·bits/8 bytes of codes plus one float32 scale (symmetric: no zero
 *     points). A K that is not a multiple of the block is padded.
 *   - The LM head is int8 (same block) whenever the layers are quantized; a
 *     tied model keeps its fp32 embedding for the Gather AND holds a
 *     quantized copy as its head.
 *   - Embedding, norms and biases stay fp32.
 *
 * It counts weights only: the KV cache, activations and ONNX Runtime's own
 * buffers come on top.
 */
import type { WeightPrecision } from './quant/linear'
import type { ModelConfig } from './types'
import { outerSlots, slotSize, weightSlots } from './weight-map'

const FLOAT_BYTES = 4

/** Bytes of an [n, k] matrix block-quantized to `bits` with `blockSize` values per block (codes + float32 scales). */
export function quantizedMatrixBytes(n: number, k: number, bits: 4 | 8, blockSize: number): number {
  const blocks = Math.ceil(k / blockSize)
  return n * blocks * ((blockSize * bits) / 8 + FLOAT_BYTES)
}

/** Weight bytes in memory of a model with `config` loaded at `precision` (block size default 32). */
export function weightBytes(config: ModelConfig, precision: WeightPrecision, blockSize = 32): number {
  let bytes = 0
  for (const slot of weightSlots(config)) {
    const [n, k] = slot.shape
    if (precision !== 'fp32' && slot.role === 'linear') bytes += quantizedMatrixBytes(n!, k!, precision === 'int8' ? 8 : 4, blockSize)
    else if (precision !== 'fp32' && slot.role === 'head') bytes += quantizedMatrixBytes(n!, k!, 8, blockSize)
    else bytes += slotSize(slot) * FLOAT_BYTES
  }
  // A tied model's head is a quantized copy of the (fp32) embedding.
  if (precision !== 'fp32' && config.tieWordEmbeddings) {
    const [n, k] = outerSlots(config).embed.shape
    bytes += quantizedMatrixBytes(n!, k!, 8, blockSize)
  }
  return bytes
}

/**
 * Decode speed relative to fp32, as measured by the decode bench
 * (`npm run bench -- decode`: 16 layers, d 1024, vocab 32k, CPU; README,
 * "Results"). A rough guide for other shapes and machines, and labelled so.
 */
export const MEASURED_DECODE_SPEEDUP: Readonly<Record<WeightPrecision, number>> = { fp32: 1, int8: 2.5, int4: 2.9 }

/** Resident memory relative to fp32 on the same bench (whole process, not only weights). */
export const MEASURED_RSS_RATIO: Readonly<Record<WeightPrecision, number>> = { fp32: 1, int8: 0.47, int4: 0.4 }
