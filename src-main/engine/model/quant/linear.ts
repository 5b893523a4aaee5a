/**
 * A quantized Linear layer in a graph: the MatMulNBits weight as constants
 * plus the node. This is the one call a graph builder makes per linear layer
 * in place of `matmul(x, W)`; the graph must be built with 'MatMulNBits' in
 * its contribOps (after `contribOpSupported(matmulNBitsProbe, provider)`).
 */
import type { Tensor } from '../../onnx/graph'
import { matmulNBits, type MatMulNBitsParams } from '../../onnx/ops/contrib'
import { matmulNBitsShapes, quantizeLinear, type BlockSize, type QuantizedLinear } from './blockwise'

/** Per-model weight precision. */
export type WeightPrecision = 'fp32' | 'int8' | 'int4'

export interface QuantizationSettings {
  precision: WeightPrecision
  /** Default 32. */
  blockSize?: 32 | 64 | 128
}

/**
 * A float32 HF-layout weight [N = out, K = in] at the model's precision:
 * undefined for fp32 (keep the float path), else the MatMulNBits weight.
 */
export function quantizeForPrecision(weight: Float32Array, n: number, k: number, settings: QuantizationSettings): QuantizedLinear | undefined {
  if (settings.precision === 'fp32') return undefined
  return quantizeLinear(weight, n, k, { bits: settings.precision === 'int8' ? 8 : 4, blockSize: (settings.blockSize ?? 32) as BlockSize })
}

export interface LinearNBitsOptions {
  /**
   * 4 (default): activations quantized to int8 per block inside the kernel,
   * ORT's fast CPU path. 0: activations stay fp32 (exact up to float sums).
   */
  accuracyLevel?: MatMulNBitsParams['accuracyLevel']
  /** [N], added in the same node. */
  bias?: Tensor
}

/** x [.., K] · Wᵀ (+ bias) → [.., N] with W quantized; `name` names the weight constants (`${name}.B`, …). */
export function linearNBits(x: Tensor, name: string, q: QuantizedLinear, options: LinearNBitsOptions = {}): Tensor {
  const g = x.graph
  const shapes = matmulNBitsShapes(q)
  const b = g.constant(q.b, 'uint8', shapes.b, `${name}.B`)
  const scales = g.constant(q.scales, 'float32', shapes.scales, `${name}.scales`)
  const zeroPoints = q.zeroPoints ? g.constant(q.zeroPoints, 'uint8', shapes.zeroPoints, `${name}.zero_points`) : undefined
  const params: MatMulNBitsParams = { k: q.k, n: q.n, bits: q.bits, blockSize: q.blockSize, accuracyLevel: options.accuracyLevel ?? 4 }
  return matmulNBits(x, { b, scales, zeroPoints }, params, options.bias)
}
