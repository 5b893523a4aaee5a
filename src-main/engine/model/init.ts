/**
 * A freshly initialised LLaMA-family model, as transformers initialises one
 * (`_init_weights`): every Linear and the embedding drawn from N(0, 0.02²),
 * RMSNorm weights 1, biases 0. Seeded, so a recipe rebuilds the same model.
 */
import { weightSlots } from './import'
import type { LayerWeights, ModelConfig, ModelWeights } from './types'

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
  const layers: Record<string, Float32Array>[] = Array.from({ length: config.numLayers }, () => ({}))
  const top: Record<string, Float32Array> = {}
  for (const slot of weightSlots(config)) {
    const size = slot.shape.reduce((a, b) => a * b, 1)
    const isNorm = slot.name.endsWith('norm.weight')
    const isBias = slot.name.endsWith('.bias')
    const data = isNorm ? new Float32Array(size).fill(1) : isBias ? new Float32Array(size) : Float32Array.from({ length: size }, () => normal() * std)
    if (slot.layer === undefined) top[slot.field] = data
    else layers[slot.layer]![slot.field] = data
  }
  return {
    embed: top.embed!,
    layers: layers as unknown as LayerWeights[],
    norm: top.norm!,
    lmHead: config.tieWordEmbeddings ? undefined : top.lmHead,
  }
}
