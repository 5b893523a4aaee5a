/**
 * The weight map of a LLaMA-family model, written once (as nanoGPT's
 * `from_pretrained` maps Hugging Face names and lists the transposed weights
 * in one place): every tensor a checkpoint with a given config holds, its
 * Hugging Face name, its shape from the config, the ModelWeights field it
 * fills, and its role. Import, export, initialisation, the training graph and
 * the inference graphs all read this list; none spells a tensor name itself.
 *
 * The role says how each use reads the tensor:
 *
 *   role       stored (import/export)  inference graph (model/graphs.ts)          training graph (train/sorted-graph.ts)
 *   embedding  [vocab, d]              rows gathered as stored                    rows gathered from the parameter
 *   head       [vocab, d]              Gemm with transB (no copy), or             the fused LM head + cross-entropy
 *                                      MatMulNBits rows as stored                 reads [vocab, d] as stored
 *   linear     [out, in]               TRANSPOSED once to [in, out] (x·W), or     a Transpose node on the [out, in]
 *                                      MatMulNBits rows as stored (no transpose)  parameter (its gradient transposes back)
 *   norm, bias [n]                     as stored                                  as stored
 *
 * A tied model has no `head` tensor: the embedding serves as the head.
 */
import type { LayerWeights, ModelConfig, ModelWeights } from './types'

export type WeightRole = 'embedding' | 'head' | 'linear' | 'norm' | 'bias'

/** The float tensors of a layer (not the packed weights of a pre-quantized checkpoint). */
export type LayerField = Exclude<keyof LayerWeights, 'prequantized'>
export type OuterField = 'embed' | 'norm' | 'lmHead'

/** One tensor of the checkpoint: its HF name, its shape, its role, and where it goes in ModelWeights. */
export interface WeightSlot {
  name: string
  shape: number[]
  role: WeightRole
  /** Layer index, or undefined for embed / norm / lmHead. */
  layer: number | undefined
  field: LayerField | OuterField
}

export interface LayerSlot extends WeightSlot {
  layer: number
  field: LayerField
}

interface LayerEntry {
  field: LayerField
  /** After `model.layers.<i>.`. */
  suffix: string
  role: WeightRole
  shape: (config: ModelConfig) => number[]
  /** The config switch that gives a layer this tensor; always present when absent. */
  when?: (config: ModelConfig) => boolean
}

const qDim = (c: ModelConfig) => c.numHeads * c.headDim
const kvDim = (c: ModelConfig) => c.numKvHeads * c.headDim

/** One decoder layer's tensors, in Hugging Face's order. */
const LAYER: readonly LayerEntry[] = [
  { field: 'attnNorm', suffix: 'input_layernorm.weight', role: 'norm', shape: (c) => [c.hiddenSize] },
  { field: 'q', suffix: 'self_attn.q_proj.weight', role: 'linear', shape: (c) => [qDim(c), c.hiddenSize] },
  { field: 'k', suffix: 'self_attn.k_proj.weight', role: 'linear', shape: (c) => [kvDim(c), c.hiddenSize] },
  { field: 'v', suffix: 'self_attn.v_proj.weight', role: 'linear', shape: (c) => [kvDim(c), c.hiddenSize] },
  // Qwen2: q/k/v projections carry biases.
  { field: 'qBias', suffix: 'self_attn.q_proj.bias', role: 'bias', shape: (c) => [qDim(c)], when: (c) => c.attentionBias },
  { field: 'kBias', suffix: 'self_attn.k_proj.bias', role: 'bias', shape: (c) => [kvDim(c)], when: (c) => c.attentionBias },
  { field: 'vBias', suffix: 'self_attn.v_proj.bias', role: 'bias', shape: (c) => [kvDim(c)], when: (c) => c.attentionBias },
  // Qwen3: per-head RMSNorm on q and k.
  { field: 'qNorm', suffix: 'self_attn.q_norm.weight', role: 'norm', shape: (c) => [c.headDim], when: (c) => c.qkNorm },
  { field: 'kNorm', suffix: 'self_attn.k_norm.weight', role: 'norm', shape: (c) => [c.headDim], when: (c) => c.qkNorm },
  { field: 'o', suffix: 'self_attn.o_proj.weight', role: 'linear', shape: (c) => [c.hiddenSize, qDim(c)] },
  { field: 'mlpNorm', suffix: 'post_attention_layernorm.weight', role: 'norm', shape: (c) => [c.hiddenSize] },
  { field: 'gate', suffix: 'mlp.gate_proj.weight', role: 'linear', shape: (c) => [c.intermediateSize, c.hiddenSize] },
  { field: 'up', suffix: 'mlp.up_proj.weight', role: 'linear', shape: (c) => [c.intermediateSize, c.hiddenSize] },
  { field: 'down', suffix: 'mlp.down_proj.weight', role: 'linear', shape: (c) => [c.hiddenSize, c.intermediateSize] },
]

/** Layer fields that only some architectures have (biases, q/k norm). */
export const OPTIONAL_LAYER_FIELDS: readonly LayerField[] = LAYER.filter((e) => e.when).map((e) => e.field)

/** The tensors of decoder layer `index`, in Hugging Face's order. */
export function layerSlots(config: ModelConfig, index: number): LayerSlot[] {
  return LAYER.filter((e) => e.when?.(config) ?? true).map((e) => ({
    name: `model.layers.${index}.${e.suffix}`,
    shape: e.shape(config),
    role: e.role,
    layer: index,
    field: e.field,
  }))
}

export const EMBED_NAME = 'model.embed_tokens.weight'
export const NORM_NAME = 'model.norm.weight'
export const LM_HEAD_NAME = 'lm_head.weight'

function embedSlot(config: ModelConfig): WeightSlot {
  return { name: EMBED_NAME, shape: [config.vocabSize, config.hiddenSize], role: 'embedding', layer: undefined, field: 'embed' }
}

function normSlot(config: ModelConfig): WeightSlot {
  return { name: NORM_NAME, shape: [config.hiddenSize], role: 'norm', layer: undefined, field: 'norm' }
}

/** The LM head's own tensor; undefined when the head is tied to the embedding. */
function headSlot(config: ModelConfig): WeightSlot | undefined {
  if (config.tieWordEmbeddings) return undefined
  return { name: LM_HEAD_NAME, shape: [config.vocabSize, config.hiddenSize], role: 'head', layer: undefined, field: 'lmHead' }
}

/** The tensors outside the layers: embedding, final norm, and lm_head unless tied. */
export function outerSlots(config: ModelConfig): { embed: WeightSlot; norm: WeightSlot; head: WeightSlot | undefined } {
  return { embed: embedSlot(config), norm: normSlot(config), head: headSlot(config) }
}

/**
 * Every tensor a checkpoint with this config holds, in Hugging Face's order:
 * embeddings, each layer, the final norm, and lm_head unless it is tied.
 */
export function weightSlots(config: ModelConfig): WeightSlot[] {
  const { embed, norm, head } = outerSlots(config)
  const slots: WeightSlot[] = [embed]
  for (let i = 0; i < config.numLayers; i++) slots.push(...layerSlots(config, i))
  slots.push(norm)
  if (head) slots.push(head)
  return slots
}

/** The array a slot names in `weights` (undefined when absent). */
export function weightOf(weights: ModelWeights, slot: WeightSlot): Float32Array | undefined {
  if (slot.layer === undefined) return weights[slot.field as OuterField]
  return weights.layers[slot.layer]?.[slot.field as LayerField]
}

/** Puts `data` where `slot` says in `weights` (whose layers array already has the layer). */
export function setWeight(weights: ModelWeights, slot: WeightSlot, data: Float32Array): void {
  if (slot.layer === undefined) weights[slot.field as OuterField] = data
  else (weights.layers[slot.layer] as LayerWeights)[slot.field as LayerField] = data
}

/** The values a slot's shape holds. */
export function slotSize(slot: WeightSlot): number {
  return slot.shape.reduce((a, b) => a * b, 1)
}
