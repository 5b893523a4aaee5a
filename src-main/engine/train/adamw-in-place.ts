/**
 * The optimizer step of a training run, lean: AdamW with global-norm clipping
 * (torch.optim.AdamW after torch.nn.utils.clip_grad_norm_, the rules
 * onnx/optimizer.ts writes as graph nodes) applied in place to the trainer's
 * own parameter, moment and gradient buffers, one value at a time.
 *
 * Why not an ONNX graph: a graph taking every parameter, moment and gradient
 * at once returns a new copy of each parameter and moment, which ONNX Runtime
 * for Node copies once more into JavaScript: 28–32 bytes per trained parameter
 * at the step's peak. Running such a graph on bounded slices instead does not
 * bound the memory either: the Node binding returns a fresh copy of every
 * output of every run (pre-allocated outputs included, onnxruntime-node 1.30),
 * garbage V8 frees when it chooses (measured: +270 MB over the step on a
 * 17 M-parameter model), and the slices ran 1.8× slower than this loop on the
 * 2-core machine (33.5 M values: 600 ms against 330 ms), the update being
 * bound by memory, not arithmetic. Here the step holds the parameter, its two
 * moments and its gradient, 16 bytes a trained parameter, and nothing else.
 *
 * Rounding follows PyTorch's float32 tensors: the clipped gradient and both
 * moments are rounded to float32 as PyTorch stores them, and the update reads
 * the stored moments; each value's arithmetic is done in float64 (PyTorch's
 * step-wide scalars, lr / (1 − β1^t) and √(1 − β2^t), are Python floats too).
 */

/** One trained tensor's buffers: the parameter and moments are updated in place, the gradient only read. */
export interface AdamWBuffers {
  param: Float32Array
  m: Float32Array
  v: Float32Array
  grad: Float32Array
  /** Excluded from weight decay (norms). */
  noDecay: boolean
}

export interface AdamWSettings {
  /** Decoupled weight decay. */
  weightDecay: number
  /** Global-norm clipping threshold; 0 disables clipping. */
  maxGradNorm: number
  /** Defaults 0.9, 0.999, 1e-8 (PyTorch's). */
  beta1?: number
  beta2?: number
  eps?: number
}

/** √(Σ g²) over every gradient, summed in float64 (PyTorch sums each tensor's in float32; they agree to float32 rounding). */
export function globalGradNorm(grads: readonly Float32Array[]): number {
  let sum = 0
  for (const g of grads) {
    // Four partial sums: one would make the loop wait on each add's latency.
    let s0 = 0
    let s1 = 0
    let s2 = 0
    let s3 = 0
    const whole = g.length - (g.length % 4)
    for (let i = 0; i < whole; i += 4) {
      s0 += g[i]! * g[i]!
      s1 += g[i + 1]! * g[i + 1]!
      s2 += g[i + 2]! * g[i + 2]!
      s3 += g[i + 3]! * g[i + 3]!
    }
    for (let i = whole; i < g.length; i++) s0 += g[i]! * g[i]!
    sum += s0 + s1 + s2 + s3
  }
  return Math.sqrt(sum)
}

/** clip_grad_norm_'s coefficient: min(1, maxGradNorm / (norm + 1e-6)); 1 when clipping is off. */
export function clipCoefficient(norm: number, maxGradNorm: number): number {
  return maxGradNorm > 0 ? Math.min(1, maxGradNorm / (norm + 1e-6)) : 1
}

/**
 * One AdamW step (t counts from 1, lr this step's rate) on every tensor, in place;
 * returns the global gradient norm before clipping (NaN or Infinity when a gradient
 * is, which then reaches every parameter, as in PyTorch).
 */
export function adamwStep(tensors: readonly AdamWBuffers[], settings: AdamWSettings, lr: number, t: number): number {
  const { beta1 = 0.9, beta2 = 0.999, eps = 1e-8 } = settings
  const norm = globalGradNorm(tensors.map((x) => x.grad))
  const clip = clipCoefficient(norm, settings.maxGradNorm)
  const stepSize = lr / (1 - beta1 ** t)
  const sqrtBias2 = Math.sqrt(1 - beta2 ** t)
  const fround = Math.fround
  for (const { param, m, v, grad, noDecay } of tensors) {
    const decay = 1 - lr * (noDecay ? 0 : settings.weightDecay)
    for (let i = 0; i < param.length; i++) {
      const g = fround(grad[i]! * clip)
      const mi = fround(m[i]! + (g - m[i]!) * (1 - beta1))
      const vi = fround(v[i]! * beta2 + g * g * (1 - beta2))
      m[i] = mi
      v[i] = vi
      param[i] = param[i]! * decay - stepSize * (mi / (Math.sqrt(vi) / sqrtBias2 + eps))
    }
  }
  return norm
}
