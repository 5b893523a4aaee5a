/**
 * A freshly initialised LLaMA-family model, as transformers initialises one
 * (`_init_weights`): every Linear and the embedding drawn from N(0, 0.02²),
 * RMSNorm weights 1, biases 0. Seeded, so a recipe rebuilds the same model.
 */
import type { ModelConfig, ModelWeights } from './types'
import { setWeight, slotSize, weightSlots } from './weight-map'

/** Standard normal draws from a seeded mulberry32 via Box–Muller. */
export function normalSampler(seed: number): () => number {
  let a = seed >>> 0
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296
  }
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform())
}

export function initialWeights(config: ModelConfig, seed: number, std = 0.02): ModelWeights {
  const normal = normalSampler(seed)
  const weights: ModelWeights = {
    embed: new Float32Array(0),
    layers: Array.from({ length: config.numLayers }, () => ({}) as ModelWeights['layers'][number]),
    norm: new Float32Array(0),
    lmHead: undefined,
  }
  // Every slot is filled below, in Hugging Face's order (the draws depend on it).
  for (const slot of weightSlots(config)) {
    const size = slotSize(slot)
    const data =
      slot.role === 'norm' ? new Float32Array(size).fill(1) : slot.role === 'bias' ? new Float32Array(size) : Float32Array.from({ length: size }, () => normal() * std)
    setWeight(weights, slot, data)
  }
  return weights
}
