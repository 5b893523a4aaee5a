/**
 * The LLaMA-family building blocks as graph functions, top to bottom like the
 * architecture: RMSNorm, rotary embedding, causal attention with grouped
 * query heads, the SwiGLU MLP, and the pre-norm block that joins them.
 * Layouts: activations [B, T, d]; heads [B, H, T, D]; float weights [in, out]
 * (Hugging Face's Linear weight transposed), so a projection is x·W; a
 * quantized weight keeps HF's [out, in] rows and runs as MatMulNBits.
 */
import { Tensor } from '../onnx/graph'
import { add, expand, mul, neg, reciprocal, reduceMean, reshape, sqrt } from '../onnx/ops/basic'
import { frozenMatmulNBits } from '../onnx/ops/contrib'
import { matmulRows } from '../onnx/ops/linear-rows'
import { matmul } from '../onnx/ops/matmul'
import { causalMask, silu, softmax } from '../onnx/ops/nn'
import { concat, slice, transpose, unsqueeze } from '../onnx/ops/shape'
import type { QuantizedLinear } from './quant/blockwise'
import { linearNBits } from './quant/linear'

/** A block-quantized Linear weight (inference only: MatMulNBits has no gradient). */
export interface NBitsWeight {
  readonly quantized: QuantizedLinear
  /** Names its constants (`${name}.B`, `${name}.scales`). */
  readonly name: string
  readonly accuracyLevel: 0 | 4
}

/**
 * A frozen 4-bit weight whose packed codes and scales are graph inputs (a
 * QLoRA base): x·Wᵀ runs as MatMulNBits, and the gradient reaches x through
 * a dequantization built inside the backward pass (onnx/ops/contrib.ts
 * frozenMatmulNBits); W itself gets none.
 */
export interface FrozenNBitsWeight {
  /** uint8 [N, kBlocks, blockSize/2] */
  readonly packed: Tensor
  /** float32 [N, kBlocks] */
  readonly scales: Tensor
  readonly n: number
  readonly k: number
  readonly blockSize: number
}

/**
 * A float weight kept in Hugging Face's [out, in] rows (the training graphs'
 * parameters): x·Wᵀ as one Gemm that reads W in place (onnx/ops/linear-rows.ts).
 */
export interface RowsWeight {
  /** [out, in] */
  readonly rows: Tensor
}

/**
 * A frozen weight with a low-rank adapter beside it (LoRA, model/lora.ts):
 * x·W + ((x·Aᵀ) ⊙ scale)·Bᵀ. `scale` [r] multiplies each rank's column:
 * alpha/r everywhere for LoRA; alpha/b on the first b and 0 after them for a
 * DyLoRA step of rank b, so the later rows of A and columns of B neither act
 * nor get gradient.
 */
export interface LoraLinear {
  readonly base: Tensor | RowsWeight | NBitsWeight | FrozenNBitsWeight
  /** [r, in] */
  readonly a: Tensor
  /** [out, r] */
  readonly b: Tensor
  /** [r] */
  readonly scale: Tensor
}

/** A Linear layer's weight: a float [in, out] tensor or [out, in] rows, a quantized one (constant or frozen input), or any of them with an adapter. */
export type LinearWeight = Tensor | RowsWeight | NBitsWeight | FrozenNBitsWeight | LoraLinear

/** x·W (+ bias) for any kind of weight. */
export function linear(x: Tensor, weight: LinearWeight, bias?: Tensor): Tensor {
  if (weight instanceof Tensor) {
    const y = matmul(x, weight)
    return bias ? add(y, bias) : y
  }
  if ('base' in weight) return add(linear(x, weight.base, bias), loraDelta(x, weight))
  if ('rows' in weight) {
    const y = matmulRows(x, weight.rows)
    return bias ? add(y, bias) : y
  }
  if ('packed' in weight) {
    // Exact fp32 activations (accuracy level 0): training must not see the int8-activation kernel's rounding.
    const y = frozenMatmulNBits(x, { b: weight.packed, scales: weight.scales }, { k: weight.k, n: weight.n, blockSize: weight.blockSize, accuracyLevel: 0 })
    return bias ? add(y, bias) : y
  }
  return linearNBits(x, weight.name, weight.quantized, { accuracyLevel: weight.accuracyLevel, ...(bias ? { bias } : {}) })
}

/** The adapter's low-rank term ((x·Aᵀ) ⊙ scale)·Bᵀ: two thin products, never the [out, in] product B·A. */
export function loraDelta(x: Tensor, adapter: Pick<LoraLinear, 'a' | 'b' | 'scale'>): Tensor {
  const down = mul(matmul(x, transpose(adapter.a, [1, 0])), adapter.scale)
  return matmul(down, transpose(adapter.b, [1, 0]))
}

/** x / sqrt(mean(x², last axis) + eps) · weight. */
export function rmsNorm(x: Tensor, weight: Tensor, eps: number): Tensor {
  const meanSquare = reduceMean(mul(x, x), [-1], true)
  return mul(mul(x, reciprocal(sqrt(add(meanSquare, eps)))), weight)
}

/** [x₁, x₂] → [−x₂, x₁] on the last axis (Hugging Face's rotate_half). */
function rotateHalf(x: Tensor): Tensor {
  const half = (x.shape[x.rank - 1] as number) / 2
  const x1 = slice(x, { starts: [0], ends: [half], axes: [-1] })
  const x2 = slice(x, { starts: [half], ends: [2 * half], axes: [-1] })
  return concat([neg(x2), x1], -1)
}

/** Rotary position embedding of x [B, H, T, D] with cos/sin [T, D] (or broadcastable). */
export function rope(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  return add(mul(x, cos), mul(rotateHalf(x), sin))
}

export interface AttentionShape {
  heads: number
  kvHeads: number
  headDim: number
}

/**
 * Repeats each of the kvHeads key/value heads heads/kvHeads times along the
 * head axis: [B, Hkv, T, D] → [B, H, T, D]. Expand's gradient sums the
 * copies, so every query head that read a shared kv head sends it gradient.
 */
export function repeatKv(x: Tensor, repeats: number): Tensor {
  if (repeats === 1) return x
  const [b, hkv, t, d] = x.shape as [string | number, number, string | number, number]
  const widened = expand(unsqueeze(x, [2]), [b, hkv, repeats, t, d], x)
  return reshape(widened, [b, hkv * repeats, t, d], x)
}

/** softmax(q·kᵀ/√D + causal mask)·v over heads; q [B,H,T,D], k and v [B,Hkv,T,D]. */
export function causalAttention(q: Tensor, k: Tensor, v: Tensor, shape: AttentionShape): Tensor {
  const repeats = shape.heads / shape.kvHeads
  if (!Number.isInteger(repeats)) throw new Error(`heads ${shape.heads} is not a multiple of kvHeads ${shape.kvHeads}`)
  const keys = repeatKv(k, repeats)
  const values = repeatKv(v, repeats)
  const scores = mul(matmul(q, transpose(keys, [0, 1, 3, 2])), 1 / Math.sqrt(shape.headDim))
  return matmul(softmax(causalMask(scores), -1), values)
}

/** SwiGLU MLP: (silu(x·Wgate) ⊙ x·Wup)·Wdown. */
export function swiglu(x: Tensor, gate: LinearWeight, up: LinearWeight, down: LinearWeight): Tensor {
  return linear(mul(silu(linear(x, gate)), linear(x, up)), down)
}

export interface BlockWeights {
  attnNorm: Tensor
  q: LinearWeight
  k: LinearWeight
  v: LinearWeight
  o: LinearWeight
  mlpNorm: Tensor
  gate: LinearWeight
  up: LinearWeight
  down: LinearWeight
  /** q/k/v projection biases (Qwen2). */
  qBias?: Tensor
  kBias?: Tensor
  vBias?: Tensor
  /** Per-head RMSNorm weights [headDim] on q and k, before rotary embedding (Qwen3). */
  qNorm?: Tensor
  kNorm?: Tensor
}

export interface BlockConfig extends AttentionShape {
  rmsNormEps: number
}

/** Keys and values of earlier positions, [B, Hkv, P, D]. */
export interface KvCache {
  k: Tensor
  v: Tensor
}

/** [B, T, d·] → [B, heads, T, D] */
function splitHeads(x: Tensor, heads: number, headDim: number): Tensor {
  const [b, t] = x.shape as [string | number, string | number]
  return transpose(reshape(x, [b, t, heads, headDim], x), [0, 2, 1, 3])
}

/** [B, H, T, D] → [B, T, H·D] */
function mergeHeads(x: Tensor): Tensor {
  const [b, h, t, d] = x.shape as [string | number, number, string | number, number]
  return reshape(transpose(x, [0, 2, 1, 3]), [b, t, h * d], x)
}

/**
 * One pre-norm decoder layer: x + attn(norm(x)), then + mlp(norm(·)).
 * With `past`, the new positions attend to the cached ones too and the
 * layer returns the grown cache (`present`).
 */
export function decoderLayer(
  x: Tensor,
  w: BlockWeights,
  config: BlockConfig,
  cos: Tensor,
  sin: Tensor,
  past?: KvCache,
): { hidden: Tensor; present: KvCache } {
  const { heads, kvHeads, headDim, rmsNormEps: eps } = config
  const normed = rmsNorm(x, w.attnNorm, eps)
  let q = splitHeads(linear(normed, w.q, w.qBias), heads, headDim)
  let k = splitHeads(linear(normed, w.k, w.kBias), kvHeads, headDim)
  const v = splitHeads(linear(normed, w.v, w.vBias), kvHeads, headDim)
  if (w.qNorm) q = rmsNorm(q, w.qNorm, eps)
  if (w.kNorm) k = rmsNorm(k, w.kNorm, eps)
  q = rope(q, cos, sin)
  k = rope(k, cos, sin)
  const present = past ? { k: concat([past.k, k], 2), v: concat([past.v, v], 2) } : { k, v }
  const attended = add(x, linear(mergeHeads(causalAttention(q, present.k, present.v, config)), w.o))
  const hidden = add(attended, swiglu(rmsNorm(attended, w.mlpNorm, eps), w.gate, w.up, w.down))
  return { hidden, present }
}

/** One pre-norm decoder layer over a whole sequence (no cache). */
export function transformerBlock(x: Tensor, w: BlockWeights, config: BlockConfig, cos: Tensor, sin: Tensor): Tensor {
  return decoderLayer(x, w, config, cos, sin).hidden
}

/** cos and sin tables [T, D] for rotary embeddings (Hugging Face's default, unscaled). */
export function ropeTables(length: number, headDim: number, theta = 10000): { cos: Float64Array; sin: Float64Array } {
  const cos = new Float64Array(length * headDim)
  const sin = new Float64Array(length * headDim)
  const half = headDim / 2
  for (let t = 0; t < length; t++) {
    for (let i = 0; i < half; i++) {
      const angle = t / theta ** ((2 * i) / headDim)
      for (const j of [i, i + half]) {
        cos[t * headDim + j] = Math.cos(angle)
        sin[t * headDim + j] = Math.sin(angle)
      }
    }
  }
  return { cos, sin }
}
