/**
 * Block-wise 4-bit dequantization built from standard ONNX ops, for the
 * backward pass of a frozen quantized weight (QLoRA): the gradient of
 * x·Wᵀ with respect to x needs W itself, and building it here, right where
 * the backward product reads it, lets ONNX Runtime free the fp32 copy as soon
 * as that product is done, instead of holding every layer's fp32 weight for
 * the whole step. Layout: engine/model/quant/blockwise.ts (MatMulNBits'):
 *
 *   B       uint8 [N, kBlocks, blockSize/2], element 2i in the low nibble, 2i+1 in the high one
 *   scales  float32 [N, kBlocks]; zero point 8 (symmetric): w = (code − 8) · scale
 *
 * Not differentiable (nothing differentiates a frozen weight's codes).
 */
import type { Tensor, TensorInfo } from '../graph'
import type { OpDef } from '../op'
import { cast, mul, reshape, sub } from './basic'
import { concat, slice, unsqueeze } from './shape'

function sameIntegers([a, b]: readonly (TensorInfo | undefined)[]): TensorInfo[] {
  if (a!.dtype !== 'uint8' || b!.dtype !== 'uint8') throw new Error(`needs uint8 tensors, got ${a!.dtype} and ${b!.dtype}`)
  if (b!.shape.length !== 0) throw new Error('the second operand must be a scalar')
  return [a!]
}

const bitwiseAndDef: OpDef<void> = { type: 'BitwiseAnd', infer: sameIntegers }

const shiftRightDef: OpDef<void> = {
  type: 'BitShift',
  infer: sameIntegers,
  attrs: () => ({ direction: { string: 'RIGHT' } }),
}

export interface Blockwise4Shape {
  /** Output features (rows). */
  n: number
  /** Input features (the unpadded row length). */
  k: number
  blockSize: number
}

/** The fp32 weight [N, K] that 4-bit symmetric MatMulNBits tensors (b, scales) stand for. */
export function dequantizeBlockwise4(b: Tensor, scales: Tensor, { n, k, blockSize }: Blockwise4Shape): Tensor {
  const g = b.graph
  const kBlocks = Math.ceil(k / blockSize)
  const low = g.apply(bitwiseAndDef, [b, g.scalar(0x0f, 'uint8')], undefined)[0]!
  const high = g.apply(shiftRightDef, [b, g.scalar(4, 'uint8')], undefined)[0]!
  // [N, kBlocks, blockSize/2, 2] → [N, kBlocks, blockSize]: low, high, low, high… as packed.
  const codes = reshape(concat([unsqueeze(low, [3]), unsqueeze(high, [3])], 3), [n, kBlocks, blockSize])
  const values = mul(sub(cast(codes, 'float32'), 8), unsqueeze(scales, [2]))
  const padded = reshape(values, [n, kBlocks * blockSize])
  // A K that is not a multiple of the block was padded with zeros when quantized.
  return kBlocks * blockSize === k ? padded : slice(padded, { starts: [0], ends: [k], axes: [1] })
}
