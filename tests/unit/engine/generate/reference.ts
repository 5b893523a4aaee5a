/**
 * A naive forward pass in plain float64 loops, written from the Hugging Face
 * LLaMA/Qwen definitions and sharing no code with the ONNX graphs: the
 * independent computation the engine's logits are checked against.
 */
import type { ModelConfig, ModelWeights } from '../../../../src-main/engine/model/types'

type Vec = Float64Array

function rms(x: ArrayLike<number>, w: ArrayLike<number>, eps: number): Vec {
  let ss = 0
  for (let i = 0; i < x.length; i++) ss += x[i]! * x[i]!
  const scale = 1 / Math.sqrt(ss / x.length + eps)
  return Float64Array.from({ length: x.length }, (_, i) => x[i]! * scale * w[i]!)
}

/** y = W·x (+ b) with W [out, in] row-major. */
function linear(w: Float32Array, x: Vec, out: number, bias?: Float32Array): Vec {
  const n = x.length
  const y = new Float64Array(out)
  for (let o = 0; o < out; o++) {
    let s = bias ? bias[o]! : 0
    for (let i = 0; i < n; i++) s += w[o * n + i]! * x[i]!
    y[o] = s
  }
  return y
}

function rotate(x: Vec, position: number, D: number, theta: number): Vec {
  const half = D / 2
  const y = new Float64Array(D)
  for (let i = 0; i < half; i++) {
    const angle = position / theta ** ((2 * i) / D)
    const [a, b] = [x[i]!, x[i + half]!]
    y[i] = a * Math.cos(angle) - b * Math.sin(angle)
    y[i + half] = b * Math.cos(angle) + a * Math.sin(angle)
  }
  return y
}

/** Logits [vocab] at every position of `ids`, through the first `depth` layers and the head. */
export function referenceLogits(config: ModelConfig, w: ModelWeights, ids: readonly number[], depth: number): Vec[] {
  const { hiddenSize: d, numHeads: H, numKvHeads: Hkv, headDim: D, intermediateSize: F, vocabSize: V, rmsNormEps: eps } = config
  let xs: Vec[] = ids.map((id) => Float64Array.from(w.embed.subarray(id * d, (id + 1) * d)))
  for (let l = 0; l < depth; l++) {
    const L = w.layers[l]!
    const qs: Vec[][] = []
    const ks: Vec[][] = []
    const vs: Vec[][] = []
    xs.forEach((x, t) => {
      const h = rms(x, L.attnNorm, eps)
      const q = linear(L.q, h, H * D, L.qBias)
      const k = linear(L.k, h, Hkv * D, L.kBias)
      const v = linear(L.v, h, Hkv * D, L.vBias)
      const head = (vec: Vec, j: number) => vec.slice(j * D, (j + 1) * D)
      qs.push(Array.from({ length: H }, (_, j) => rotate(L.qNorm ? rms(head(q, j), L.qNorm, eps) : head(q, j), t, D, config.ropeTheta)))
      ks.push(Array.from({ length: Hkv }, (_, j) => rotate(L.kNorm ? rms(head(k, j), L.kNorm, eps) : head(k, j), t, D, config.ropeTheta)))
      vs.push(Array.from({ length: Hkv }, (_, j) => head(v, j)))
    })
    xs = xs.map((x, t) => {
      const attn = new Float64Array(H * D)
      for (let h = 0; h < H; h++) {
        const g = Math.floor(h / (H / Hkv))
        const scores = Array.from({ length: t + 1 }, (_, s) => {
          let dot = 0
          for (let i = 0; i < D; i++) dot += qs[t]![h]![i]! * ks[s]![g]![i]!
          return dot / Math.sqrt(D)
        })
        const max = Math.max(...scores)
        const e = scores.map((s) => Math.exp(s - max))
        const total = e.reduce((a, b) => a + b, 0)
        for (let s = 0; s <= t; s++) for (let i = 0; i < D; i++) attn[h * D + i]! += (e[s]! / total) * vs[s]![g]![i]!
      }
      const o = linear(L.o, attn, d)
      const mid = Float64Array.from(x, (v, i) => v + o[i]!)
      const h2 = rms(mid, L.mlpNorm, eps)
      const gate = linear(L.gate, h2, F)
      const up = linear(L.up, h2, F)
      const act = Float64Array.from(gate, (g, i) => (g / (1 + Math.exp(-g))) * up[i]!)
      const down = linear(L.down, act, d)
      return Float64Array.from(mid, (v, i) => v + down[i]!)
    })
  }
  const head = w.lmHead ?? w.embed
  return xs.map((x) => linear(head, rms(x, w.norm, eps), V))
}

export function argmax(values: ArrayLike<number>): number {
  let best = 0
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i
  return best
}

/** Max |a − b| relative to the largest reference value (at least 1). */
export function closeness(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let scale = 1
  let worst = 0
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]!))
    worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!))
  }
  return worst / scale
}
