/**
 * com.microsoft contrib ops: use them only in graphs whose provider passed
 * the probe below (see contrib.ts). Inference only (no gradient rules),
 * except MatMulNBits on a frozen weight, whose input gets a gradient
 * (`frozenMatmulNBits`, QLoRA).
 */
import type { Tensor, TensorInfo } from '../graph'
import type { OpDef } from '../op'
import type { ContribProbe } from '../contrib'
import { formatShape, sameShape } from '../shape'
import { dequantizeBlockwise4 } from './dequantize'
import { availableAfter } from './ordering'
import { matmul } from './matmul'

const skipRmsNormDef: OpDef<{ eps: number }> = {
  type: 'SkipSimplifiedLayerNormalization',
  domain: 'com.microsoft',
  infer: ([x, skip, gamma]) => {
    if (!sameShape(x!.shape, skip!.shape)) throw new Error(`input ${formatShape(x!.shape)} and skip ${formatShape(skip!.shape)} differ`)
    if (gamma!.shape.length !== 1 || gamma!.shape[0] !== x!.shape[x!.shape.length - 1]) throw new Error(`gamma must be [${x!.shape.at(-1)}]`)
    // Outputs: normalised sum, (mean, inv_std_var: unused), and the sum x + skip itself.
    return [x!, { dtype: 'float32', shape: [] }, { dtype: 'float32', shape: [] }, x!]
  },
  attrs: ({ eps }) => ({ epsilon: { float: eps } }),
}

/**
 * Fused residual add + RMSNorm: returns { normed: rmsNorm(x + skip)·gamma,
 * sum: x + skip } in one kernel (the residual stream of a decoder block).
 */
export function skipRmsNorm(x: Tensor, skip: Tensor, gamma: Tensor, eps: number): { normed: Tensor; sum: Tensor } {
  const [normed, , , sum] = x.graph.apply(skipRmsNormDef, [x, skip, gamma], { eps })
  return { normed: normed!, sum: sum! }
}

export const skipRmsNormProbe: ContribProbe = {
  type: 'SkipSimplifiedLayerNormalization',
  inputs: [
    { name: 'x', dtype: 'float32', shape: [1, 2, 4] },
    { name: 'skip', dtype: 'float32', shape: [1, 2, 4] },
    { name: 'gamma', dtype: 'float32', shape: [4] },
  ],
  build: ([x, skip, gamma]) => skipRmsNorm(x!, skip!, gamma!, 1e-6).normed,
}

// ------------------------------------------------------------------ MatMulNBits

export interface MatMulNBitsParams {
  /** Input features (A's last dim). */
  k: number
  /** Output features. */
  n: number
  bits: 4 | 8
  /** Power of two, 16 to 256. */
  blockSize: number
  /**
   * What A may be reduced to inside the kernel: 0 = as given (fp32 on CPU),
   * 4 = int8, quantized per block on the fly (the fast CPU path for int4/int8 weights).
   */
  accuracyLevel: 0 | 1 | 2 | 3 | 4
}

function expectShape(what: string, info: TensorInfo | undefined, dtype: string, shape: readonly number[]): void {
  if (!info) throw new Error(`${what} is missing`)
  if (info.dtype !== dtype) throw new Error(`${what} must be ${dtype}, got ${info.dtype}`)
  if (!sameShape(info.shape, shape)) throw new Error(`${what} must be ${formatShape(shape)}, got ${formatShape(info.shape)}`)
}

/**
 * com.microsoft MatMulNBits: Y = A · dequant(B)ᵀ (+ bias), B block-quantized
 * along K (layout: engine/model/quant/blockwise.ts). Inputs A, B, scales,
 * zero_points?, g_idx (never emitted: deprecated), bias?.
 */
const matmulNBitsDef: OpDef<MatMulNBitsParams> = {
  type: 'MatMulNBits',
  domain: 'com.microsoft',
  infer: ([a, b, scales, zeroPoints, , bias], { k, n, bits, blockSize }) => {
    if (bits !== 4 && bits !== 8) throw new Error(`bits must be 4 or 8, got ${bits}`)
    if (!Number.isInteger(Math.log2(blockSize)) || blockSize < 16 || blockSize > 256) throw new Error(`block_size must be a power of two from 16 to 256, got ${blockSize}`)
    if (a!.dtype !== 'float32') throw new Error(`A must be float32, got ${a!.dtype}`)
    if (a!.shape.length < 2) throw new Error('A must have rank ≥ 2')
    const last = a!.shape[a!.shape.length - 1]
    if (typeof last === 'number' && last !== k) throw new Error(`A's last dim ${last} is not K = ${k}`)
    const kBlocks = Math.ceil(k / blockSize)
    expectShape('B', b, 'uint8', [n, kBlocks, (blockSize * bits) / 8])
    expectShape('scales', scales, 'float32', [n, kBlocks])
    if (zeroPoints) expectShape('zero_points', zeroPoints, 'uint8', [n, Math.ceil((kBlocks * bits) / 8)])
    if (bias) expectShape('bias', bias, 'float32', [n])
    return [{ dtype: 'float32', shape: [...a!.shape.slice(0, -1), n] }]
  },
  attrs: ({ k, n, bits, blockSize, accuracyLevel }) => ({
    K: { int: k },
    N: { int: n },
    bits: { int: bits },
    block_size: { int: blockSize },
    accuracy_level: { int: accuracyLevel },
  }),
}

/** a [.., K] · dequant(b)ᵀ (+ bias) → [.., N]; inference only (no gradient rule). */
export function matmulNBits(
  a: Tensor,
  weight: { b: Tensor; scales: Tensor; zeroPoints?: Tensor | undefined },
  params: MatMulNBitsParams,
  bias?: Tensor,
): Tensor {
  const inputs = [a, weight.b, weight.scales, weight.zeroPoints, undefined, bias]
  while (inputs.length > 3 && inputs[inputs.length - 1] === undefined) inputs.pop()
  return a.graph.apply(matmulNBitsDef, inputs, params)[0]!
}

/**
 * MatMulNBits whose weight is frozen (a QLoRA base): Y = A · dequant(B)ᵀ,
 * 4-bit symmetric (no zero points, no bias), with a gradient for A only:
 * dA = dY · dequant(B), the weight rebuilt from B and the scales by standard
 * ops inside the backward pass (ops/dequantize.ts), so its fp32 copy lives
 * only until that product is done. B and the scales get none (frozen).
 * Keep accuracyLevel 0 for training: A stays fp32 in the kernel.
 */
const frozenMatmulNBitsDef: OpDef<MatMulNBitsParams> = {
  ...matmulNBitsDef,
  infer: (inputs, params) => {
    if (params.bits !== 4) throw new Error(`a frozen (trainable-through) MatMulNBits weight must be 4-bit, got ${params.bits}`)
    if (inputs.length !== 3) throw new Error('a frozen MatMulNBits weight takes A, B and scales only (symmetric, no bias)')
    return matmulNBitsDef.infer(inputs, params)
  },
  // The weight is rebuilt once the gradient reaches this node, not before (see availableAfter).
  grad: ({ inputs: [, b, scales], params, dOutputs: [g] }) => [
    matmul(g!, dequantizeBlockwise4(availableAfter(b!, g!), availableAfter(scales!, g!), params)),
    undefined,
    undefined,
  ],
}

/** a [.., K] · dequant(b)ᵀ → [.., N] with b and scales frozen inputs; a's gradient flows (see frozenMatmulNBitsDef). */
export function frozenMatmulNBits(a: Tensor, weight: { b: Tensor; scales: Tensor }, params: Omit<MatMulNBitsParams, 'bits'>): Tensor {
  return a.graph.apply(frozenMatmulNBitsDef, [a, weight.b, weight.scales], { ...params, bits: 4 })[0]!
}

/** 4-bit, block 32, int8 activations: the form every quantized graph uses, so the one worth probing. */
export const matmulNBitsProbe: ContribProbe = {
  type: 'MatMulNBits',
  inputs: [{ name: 'a', dtype: 'float32', shape: [1, 32] }],
  build: ([a]) => {
    const g = a!.graph
    const b = g.constant(new Uint8Array(2 * 16).fill(0x98), 'uint8', [2, 1, 16], 'probe_b')
    const scales = g.constant(Float32Array.of(0.5, 0.25), 'float32', [2, 1], 'probe_scales')
    return matmulNBits(a!, { b, scales }, { k: 32, n: 2, bits: 4, blockSize: 32, accuracyLevel: 4 })
  },
}
