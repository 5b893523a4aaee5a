/**
 * Low-rank adapters (LoRA, and DyLoRA's nested ranks) on a LLaMA-family
 * model's decoder linear layers, written once: which layers carry one, the
 * A [r, in] and B [out, r] tensors and their names, their initialisation,
 * truncation to a smaller rank, and merging into the base weights.
 *
 *   y = x·Wᵀ + (alpha / r) · (x·Aᵀ)·Bᵀ        so   W' = W + (alpha / r) · B·A
 *
 * Names are the Hugging Face module path of the adapted Linear plus
 * `.lora_A.weight` / `.lora_B.weight` (`model.layers.0.self_attn.q_proj.lora_A.weight`);
 * a PEFT file prefixes them with `base_model.model.` (peft-adapter.ts).
 * A starts as PEFT's kaiming-uniform (a = √5: U(−1/√in, 1/√in)) and B at
 * zero, so a fresh adapter leaves the model unchanged.
 *
 * A DyLoRA adapter of rank R is a LoRA adapter whose first b rows of A and
 * columns of B, with scale alpha / b, are themselves a rank-b adapter: the
 * truncation is exactly `truncateAdapter`.
 */
import { mulberry32 } from '../data/random'
import type { LayerField, LayerSlot } from './weight-map'
import { layerSlots, setWeight, weightOf, weightSlots } from './weight-map'
import type { ModelConfig, ModelWeights } from './types'

/** Decoder linear layers an adapter can sit on, by their short (CLI) names. */
export const LORA_TARGETS = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] as const
export type LoraTarget = (typeof LORA_TARGETS)[number]

export type AdapterKind = 'lora' | 'dylora'

/** What an adapter run uses for each setting it is not given (PEFT's usual recipe for LLaMA-family models). */
export const loraDefaults = { rank: 16, alpha: 32, dropout: 0, targets: LORA_TARGETS.join(',') } as const

export interface AdapterSpec {
  kind: AdapterKind
  /** LoRA's r; DyLoRA's largest rank R. */
  rank: number
  alpha: number
  targets: LoraTarget[]
}

/** One adapter tensor: A [r, in] or B [out, r] of one adapted layer. */
export interface LoraSlot {
  name: string
  shape: [number, number]
  layer: number
  field: LoraTarget
  part: 'A' | 'B'
}

/** The adapted module's path (`model.layers.3.mlp.up_proj`), from the weight map's tensor name. */
function modulePath(slot: LayerSlot): string {
  return slot.name.replace(/\.weight$/, '')
}

/** PEFT's `target_modules` names for the short names (`q` → `q_proj`). */
export function peftModuleNames(config: ModelConfig, targets: readonly LoraTarget[]): string[] {
  const slots = layerSlots(config, 0)
  return targets.map((t) => modulePath(slots.find((s) => s.field === t)!).split('.').at(-1)!)
}

/** The short name for a PEFT module name (`q_proj` → `q`); undefined when it is not a decoder linear layer. */
export function targetOfModule(config: ModelConfig, module: string): LoraTarget | undefined {
  return LORA_TARGETS.find((t) => peftModuleNames(config, [t])[0] === module)
}

/** A and B of each target in each layer, layer by layer in Hugging Face's order. */
export function loraSlots(config: ModelConfig, spec: Pick<AdapterSpec, 'rank' | 'targets'>): LoraSlot[] {
  const slots: LoraSlot[] = []
  for (let l = 0; l < config.numLayers; l++) {
    for (const base of layerSlots(config, l)) {
      if (!(spec.targets as readonly LayerField[]).includes(base.field)) continue
      const [out, inp] = base.shape as [number, number]
      const field = base.field as LoraTarget
      slots.push({ name: `${modulePath(base)}.lora_A.weight`, shape: [spec.rank, inp], layer: l, field, part: 'A' })
      slots.push({ name: `${modulePath(base)}.lora_B.weight`, shape: [out, spec.rank], layer: l, field, part: 'B' })
    }
  }
  return slots
}

/** The scale of a rank-r adapter's product: alpha / r (PEFT's, without rslora). */
export function loraScale(alpha: number, rank: number): number {
  return alpha / rank
}

/** A fresh adapter: A kaiming-uniform (seeded), B zero. */
export function initialAdapter(config: ModelConfig, spec: AdapterSpec, seed: number): Map<string, Float32Array> {
  const uniform = mulberry32(seed)
  const tensors = new Map<string, Float32Array>()
  for (const slot of loraSlots(config, spec)) {
    const [rows, cols] = slot.shape
    if (slot.part === 'B') {
      tensors.set(slot.name, new Float32Array(rows * cols))
      continue
    }
    const bound = 1 / Math.sqrt(cols)
    tensors.set(slot.name, Float32Array.from({ length: rows * cols }, () => (2 * uniform() - 1) * bound))
  }
  return tensors
}

/** The rank-b adapter inside a larger one: A[:b], B[:, :b] (DyLoRA's nested ranks). */
export function truncateAdapter(config: ModelConfig, spec: AdapterSpec, tensors: ReadonlyMap<string, Float32Array>, b: number): { spec: AdapterSpec; tensors: Map<string, Float32Array> } {
  if (!Number.isInteger(b) || b < 1 || b > spec.rank) throw new Error(`rank ${b} is not between 1 and the adapter's rank ${spec.rank}`)
  const out = new Map<string, Float32Array>()
  for (const slot of loraSlots(config, spec)) {
    const data = tensors.get(slot.name)
    if (!data) throw new Error(`the adapter has no ${slot.name}`)
    const [rows, cols] = slot.shape
    if (slot.part === 'A') out.set(slot.name, data.slice(0, b * cols))
    else {
      const kept = new Float32Array(rows * b)
      for (let i = 0; i < rows; i++) kept.set(data.subarray(i * cols, i * cols + b), i * b)
      out.set(slot.name, kept)
    }
  }
  return { spec: { ...spec, kind: 'lora', rank: b }, tensors: out }
}

/** W + (alpha / r)·B·A for every adapted layer; the other tensors are shared with `weights`, not copied. */
export function mergeAdapter(config: ModelConfig, weights: ModelWeights, spec: AdapterSpec, tensors: ReadonlyMap<string, Float32Array>): ModelWeights {
  const merged: ModelWeights = { ...weights, layers: weights.layers.map((layer) => ({ ...layer })) }
  const scale = loraScale(spec.alpha, spec.rank)
  const r = spec.rank
  const slots = loraSlots(config, spec)
  for (let i = 0; i < slots.length; i += 2) {
    const [aSlot, bSlot] = [slots[i]!, slots[i + 1]!]
    const base = weightSlots(config).find((s) => s.layer === aSlot.layer && s.field === aSlot.field)!
    const a = tensors.get(aSlot.name)
    const b = tensors.get(bSlot.name)
    if (!a || !b) throw new Error(`the adapter has no ${a ? bSlot.name : aSlot.name}`)
    const [out, inp] = base.shape as [number, number]
    const w = Float32Array.from(weightOf(weights, base)!)
    for (let o = 0; o < out; o++) {
      const row = o * inp
      for (let k = 0; k < r; k++) {
        const coefficient = scale * b[o * r + k]!
        if (coefficient === 0) continue
        const aRow = k * inp
        for (let j = 0; j < inp; j++) w[row + j]! += coefficient * a[aRow + j]!
      }
    }
    setWeight(merged, base, w)
  }
  return merged
}
