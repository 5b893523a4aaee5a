/**
 * Choosing the next token from logits: greedy, or sampling with temperature,
 * top-k, top-p (nucleus) and a repetition penalty, from a seeded generator
 * so the same seed gives the same text.
 */
import { mulberry32 } from '../data/random'

export interface SamplingOptions {
  /** 0 (the default) is greedy. */
  temperature?: number
  topK?: number
  topP?: number
  /** > 1 discourages tokens already in the sequence (CTRL/Hugging Face rule). */
  repetitionPenalty?: number
  seed?: number
}

export function argmax(values: ArrayLike<number>): number {
  let best = 0
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i
  return best
}

export function applyRepetitionPenalty(logits: Float32Array, history: Iterable<number>, penalty: number): Float32Array {
  if (penalty === 1) return logits
  const out = Float32Array.from(logits)
  for (const id of new Set(history)) {
    const v = out[id]
    if (v !== undefined) out[id] = v > 0 ? v / penalty : v * penalty
  }
  return out
}

export type Sampler = (logits: Float32Array, history: readonly number[]) => number

/** The tokens sampling may pick, with their probabilities (summing to 1), most likely first. */
export interface TokenDistribution {
  ids: number[]
  probs: number[]
}

function checkSampling(options: SamplingOptions): void {
  if ((options.temperature ?? 0) < 0) throw new Error('temperature must be ≥ 0')
  if ((options.repetitionPenalty ?? 1) <= 0) throw new Error('repetitionPenalty must be > 0')
}

/**
 * What sampling at temperature > 0 draws from: the repetition penalty, then
 * candidates by descending logit cut by top-k, softmax at the temperature,
 * then top-p. Speculative sampling applies this same function to the draft's
 * and the full model's logits, so both are shaped identically.
 */
export function tokenDistribution(raw: Float32Array, history: readonly number[], options: SamplingOptions): TokenDistribution {
  const temperature = options.temperature ?? 0
  const logits = applyRepetitionPenalty(raw, history, options.repetitionPenalty ?? 1)
  let order = Array.from(logits.keys()).sort((a, b) => logits[b]! - logits[a]!)
  if (options.topK && options.topK > 0) order = order.slice(0, options.topK)
  const max = logits[order[0]!]!
  let probs = order.map((id) => Math.exp((logits[id]! - max) / temperature))
  let total = probs.reduce((a, b) => a + b, 0)
  if (options.topP !== undefined && options.topP < 1) {
    let mass = 0
    let keep = 0
    while (keep < order.length && mass < options.topP * total) mass += probs[keep++]!
    order = order.slice(0, Math.max(1, keep))
    probs = probs.slice(0, order.length)
    total = probs.reduce((a, b) => a + b, 0)
  }
  return { ids: order, probs: probs.map((p) => p / total) }
}

/** A token drawn from `distribution` with a uniform number `u` in [0, 1). */
export function drawFrom(distribution: TokenDistribution, u: number): number {
  const { ids, probs } = distribution
  let left = u
  for (let i = 0; i < ids.length; i++) {
    left -= probs[i]!
    if (left <= 0) return ids[i]!
  }
  return ids[ids.length - 1]!
}

export function createSampler(options: SamplingOptions = {}, rand: () => number = mulberry32(options.seed ?? Date.now())): Sampler {
  checkSampling(options)
  const temperature = options.temperature ?? 0
  const penalty = options.repetitionPenalty ?? 1
  return (raw, history) => {
    if (temperature === 0) return argmax(applyRepetitionPenalty(raw, history, penalty))
    return drawFrom(tokenDistribution(raw, history, options), rand())
  }
}
