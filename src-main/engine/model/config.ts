/**
 * Hugging Face config.json → ModelConfig for the LLaMA family. Each
 * architecture's defaults are the ones its transformers config class uses, so
 * a config.json that omits a field means here what it means there. What the
 * engine cannot run (an unknown architecture, yarn rope, a real sliding
 * window, biases on o_proj or the MLP, another activation) is refused with the
 * file and the field, never silently approximated.
 */
import { z } from 'zod'
import type { Architecture, ModelConfig, RopeScaling } from './types'

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly field: string,
    detail: string,
  ) {
    super(`${file}: field "${field}": ${detail}`)
    this.name = 'ConfigError'
  }
}

interface ArchitectureDefaults {
  architecture: Architecture
  hfArchitecture: string
  modelType: string
  rmsNormEps: number
  ropeTheta: number
  maxPositionEmbeddings: number
  /** Explicit head_dim default (Qwen3Config: 128); otherwise hidden_size / num_attention_heads. */
  headDim?: number
  /** What an absent `sliding_window` means; only read where `useSlidingWindow` says a window applies. */
  slidingWindow: number | undefined
  /** Whether the window applies without `use_sliding_window: true` (Mistral has no such switch). */
  slidingAlways: boolean
  /** Qwen2 always has q/k/v biases; the others only with attention_bias, which then also biases o_proj. */
  qkvBias: boolean
  qkNorm: boolean
}

const ARCHITECTURES: Record<string, ArchitectureDefaults> = {
  LlamaForCausalLM: {
    architecture: 'llama',
    hfArchitecture: 'LlamaForCausalLM',
    modelType: 'llama',
    rmsNormEps: 1e-6,
    ropeTheta: 10000,
    maxPositionEmbeddings: 2048,
    slidingWindow: undefined,
    slidingAlways: false,
    qkvBias: false,
    qkNorm: false,
  },
  MistralForCausalLM: {
    architecture: 'mistral',
    hfArchitecture: 'MistralForCausalLM',
    modelType: 'mistral',
    rmsNormEps: 1e-6,
    ropeTheta: 10000,
    maxPositionEmbeddings: 4096 * 32,
    slidingWindow: 4096,
    slidingAlways: true,
    qkvBias: false,
    qkNorm: false,
  },
  Qwen2ForCausalLM: {
    architecture: 'qwen2',
    hfArchitecture: 'Qwen2ForCausalLM',
    modelType: 'qwen2',
    rmsNormEps: 1e-6,
    ropeTheta: 10000,
    maxPositionEmbeddings: 32768,
    slidingWindow: 4096,
    slidingAlways: false,
    qkvBias: true,
    qkNorm: false,
  },
  Qwen3ForCausalLM: {
    architecture: 'qwen3',
    hfArchitecture: 'Qwen3ForCausalLM',
    modelType: 'qwen3',
    rmsNormEps: 1e-6,
    ropeTheta: 10000,
    maxPositionEmbeddings: 32768,
    headDim: 128,
    slidingWindow: 4096,
    slidingAlways: false,
    qkvBias: false,
    qkNorm: true,
  },
}

/** The Hugging Face class names this engine runs. */
export const SUPPORTED_ARCHITECTURES = Object.keys(ARCHITECTURES)

/** The HF class name of an architecture (for export and fixtures). */
export function hfArchitectureOf(architecture: Architecture): string {
  const entry = Object.values(ARCHITECTURES).find((a) => a.architecture === architecture)
  if (!entry) throw new Error(`unknown architecture ${architecture}`)
  return entry.hfArchitecture
}

const positiveInt = z.number().int().positive()
const tokenId = z.number().int().nonnegative()

/**
 * A size no real checkpoint comes near (the largest open models have 126
 * layers, 16384-wide hidden states, 262k-token vocabularies and 10M-position
 * contexts), so a corrupt or hostile config.json is refused before anything
 * (a layer list, a shape product, a table) is sized from it.
 */
const bounded = (max: number) => positiveInt.max(max, `at most ${max} (no real model is this large; is config.json corrupt?)`)
export const CONFIG_BOUNDS = {
  num_hidden_layers: 1024,
  hidden_size: 65_536,
  intermediate_size: 262_144,
  vocab_size: 4_194_304,
  num_attention_heads: 1024,
  num_key_value_heads: 1024,
  head_dim: 1024,
  max_position_embeddings: 16_777_216,
} as const

const RawRopeScaling = z.looseObject({
  type: z.string().optional(),
  rope_type: z.string().optional(),
  rope_theta: z.number().positive().optional(),
  factor: z.number().positive().optional(),
  low_freq_factor: z.number().positive().optional(),
  high_freq_factor: z.number().positive().optional(),
  original_max_position_embeddings: bounded(CONFIG_BOUNDS.max_position_embeddings).optional(),
})
type RawRopeScaling = z.infer<typeof RawRopeScaling>

/** The fields read from config.json; anything else is kept in `raw` untouched. */
const RawConfig = z.looseObject({
  architectures: z.array(z.string()).min(1).optional(),
  model_type: z.string().optional(),
  vocab_size: bounded(CONFIG_BOUNDS.vocab_size),
  hidden_size: bounded(CONFIG_BOUNDS.hidden_size),
  intermediate_size: bounded(CONFIG_BOUNDS.intermediate_size),
  num_hidden_layers: bounded(CONFIG_BOUNDS.num_hidden_layers),
  num_attention_heads: bounded(CONFIG_BOUNDS.num_attention_heads),
  num_key_value_heads: bounded(CONFIG_BOUNDS.num_key_value_heads).nullish(),
  head_dim: bounded(CONFIG_BOUNDS.head_dim).nullish(),
  rms_norm_eps: z.number().positive().optional(),
  rope_theta: z.number().positive().optional(),
  rope_scaling: RawRopeScaling.nullish(),
  /** transformers ≥ 4.56 folds rope_theta and the scaling into one object. */
  rope_parameters: RawRopeScaling.nullish(),
  max_position_embeddings: bounded(CONFIG_BOUNDS.max_position_embeddings).optional(),
  tie_word_embeddings: z.boolean().optional(),
  attention_bias: z.boolean().optional(),
  mlp_bias: z.boolean().optional(),
  hidden_act: z.string().optional(),
  bos_token_id: tokenId.nullish(),
  eos_token_id: z.union([tokenId, z.array(tokenId)]).nullish(),
  sliding_window: positiveInt.nullish(),
  use_sliding_window: z.boolean().optional(),
})

function pickArchitecture(file: string, raw: z.infer<typeof RawConfig>): ArchitectureDefaults {
  if (raw.architectures) {
    if (raw.architectures.length > 1) throw new ConfigError(file, 'architectures', `lists several architectures (${raw.architectures.join(', ')}); expected one`)
    const name = raw.architectures[0] as string
    const entry = ARCHITECTURES[name]
    if (!entry) throw new ConfigError(file, 'architectures', `${name} is not supported (supported: ${SUPPORTED_ARCHITECTURES.join(', ')})`)
    return entry
  }
  // Some hand-written configs name only the model type.
  const entry = Object.values(ARCHITECTURES).find((a) => a.modelType === raw.model_type)
  if (!entry) {
    throw new ConfigError(file, 'architectures', raw.model_type === undefined ? 'missing (and no model_type)' : `missing, and model_type "${raw.model_type}" is not supported`)
  }
  return entry
}

function parseRopeScaling(file: string, field: string, raw: RawRopeScaling | null | undefined): RopeScaling | undefined {
  if (!raw) return undefined
  // transformers reads rope_type first and falls back to the legacy `type`.
  const kind = raw.rope_type ?? raw.type
  const kindField = raw.rope_type !== undefined ? `${field}.rope_type` : `${field}.type`
  if (kind === undefined) {
    if (raw.factor === undefined) return undefined // rope_parameters holding only rope_theta
    throw new ConfigError(file, `${field}.rope_type`, 'missing (expected "linear", "dynamic" or "llama3")')
  }
  const need = (key: 'factor' | 'low_freq_factor' | 'high_freq_factor' | 'original_max_position_embeddings'): number => {
    const value = raw[key]
    if (value === undefined) throw new ConfigError(file, `${field}.${key}`, `missing (required by rope type "${kind}")`)
    return value
  }
  switch (kind) {
    case 'default':
      return undefined
    case 'linear':
    case 'dynamic':
      return { type: kind, factor: need('factor') }
    case 'llama3': {
      const scaling: RopeScaling = {
        type: 'llama3',
        factor: need('factor'),
        lowFreqFactor: need('low_freq_factor'),
        highFreqFactor: need('high_freq_factor'),
        originalMaxPositionEmbeddings: need('original_max_position_embeddings'),
      }
      if (scaling.highFreqFactor <= scaling.lowFreqFactor) {
        throw new ConfigError(file, `${field}.high_freq_factor`, `${scaling.highFreqFactor} must be greater than low_freq_factor ${scaling.lowFreqFactor}`)
      }
      return scaling
    }
    default:
      throw new ConfigError(file, kindField, `rope type "${kind}" is not supported (supported: linear, dynamic, llama3)`)
  }
}

/**
 * Reads a parsed config.json. `file` is only used in error messages.
 * Throws ConfigError naming the field for anything missing, malformed or unsupported.
 */
export function parseConfig(json: unknown, file: string): ModelConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new ConfigError(file, '(root)', 'config.json must hold a JSON object')
  const parsed = RawConfig.safeParse(json)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const path = issue?.path ?? []
    const value = path.reduce<unknown>((at, key) => (isRecord(at) || Array.isArray(at) ? (at as Record<PropertyKey, unknown>)[key] : undefined), json)
    const detail = value === undefined ? 'missing' : `${JSON.stringify(value)}: ${issue?.message ?? 'invalid'}`
    throw new ConfigError(file, path.map(String).join('.') || '(root)', detail)
  }
  const raw = parsed.data
  const arch = pickArchitecture(file, raw)
  const unsupported = (field: string, detail: string): never => {
    throw new ConfigError(file, field, `${detail}; ${arch.hfArchitecture} models with it are not supported`)
  }

  if (raw.hidden_act !== undefined && raw.hidden_act !== 'silu') unsupported('hidden_act', `"${raw.hidden_act}" (expected "silu")`)
  if (raw.mlp_bias) unsupported('mlp_bias', 'true')
  // Llama/Mistral/Qwen3's attention_bias also biases o_proj, which the engine has no weight for.
  if (raw.attention_bias && !arch.qkvBias) unsupported('attention_bias', 'true (biases on q/k/v/o projections)')

  const numHeads = raw.num_attention_heads
  const numKvHeads = raw.num_key_value_heads ?? numHeads
  if (numHeads % numKvHeads !== 0) {
    throw new ConfigError(file, 'num_key_value_heads', `${numKvHeads} does not divide num_attention_heads ${numHeads}`)
  }
  let headDim: number
  if (raw.head_dim != null) headDim = raw.head_dim
  else if (arch.headDim !== undefined) headDim = arch.headDim
  else {
    if (raw.hidden_size % numHeads !== 0) {
      throw new ConfigError(file, 'hidden_size', `${raw.hidden_size} is not a multiple of num_attention_heads ${numHeads} (and no head_dim is given)`)
    }
    headDim = raw.hidden_size / numHeads
  }
  if (headDim % 2 !== 0) throw new ConfigError(file, raw.head_dim != null ? 'head_dim' : 'hidden_size', `head dimension ${headDim} is odd; rotary embedding needs it even`)

  const maxPositionEmbeddings = raw.max_position_embeddings ?? arch.maxPositionEmbeddings
  // A window at least as long as any sequence the model accepts changes nothing.
  const windowOn = arch.slidingAlways || raw.use_sliding_window === true
  const window = raw.sliding_window === undefined ? arch.slidingWindow : (raw.sliding_window ?? undefined)
  if (windowOn && window !== undefined && window < maxPositionEmbeddings) {
    unsupported('sliding_window', `${window} is shorter than max_position_embeddings ${maxPositionEmbeddings} (sliding-window attention)`)
  }

  const ropeField = raw.rope_parameters ? 'rope_parameters' : 'rope_scaling'
  const ropeScaling = parseRopeScaling(file, ropeField, raw.rope_parameters ?? raw.rope_scaling)
  const eos = raw.eos_token_id

  return {
    architecture: arch.architecture,
    hfArchitecture: arch.hfArchitecture,
    vocabSize: raw.vocab_size,
    hiddenSize: raw.hidden_size,
    intermediateSize: raw.intermediate_size,
    numLayers: raw.num_hidden_layers,
    numHeads,
    numKvHeads,
    headDim,
    rmsNormEps: raw.rms_norm_eps ?? arch.rmsNormEps,
    ropeTheta: raw.rope_parameters?.rope_theta ?? raw.rope_theta ?? arch.ropeTheta,
    ropeScaling,
    maxPositionEmbeddings,
    tieWordEmbeddings: raw.tie_word_embeddings ?? false,
    attentionBias: arch.qkvBias,
    qkNorm: arch.qkNorm,
    bosTokenId: raw.bos_token_id ?? undefined,
    eosTokenIds: eos == null ? [] : typeof eos === 'number' ? [eos] : [...eos],
    raw: structuredClone(json) as Record<string, unknown>,
  }
}

/** Hugging Face's torch_dtype name for a safetensors float dtype. */
export function torchDtypeName(dtype: 'F32' | 'F16' | 'BF16'): string {
  return { F32: 'float32', F16: 'float16', BF16: 'bfloat16' }[dtype]
}

/**
 * config.json for a ModelConfig: the raw config with every field the engine
 * reads rewritten from `config`, so a config edited in memory (a sub-model
 * with fewer layers, say) is written as it now is.
 */
export function configToJson(config: ModelConfig, dtype: 'F32' | 'F16' | 'BF16'): Record<string, unknown> {
  const out: Record<string, unknown> = structuredClone(config.raw)
  const modelType = Object.values(ARCHITECTURES).find((a) => a.architecture === config.architecture)?.modelType
  const scaling = config.ropeScaling
  Object.assign(out, {
    architectures: [config.hfArchitecture],
    model_type: modelType,
    vocab_size: config.vocabSize,
    hidden_size: config.hiddenSize,
    intermediate_size: config.intermediateSize,
    num_hidden_layers: config.numLayers,
    num_attention_heads: config.numHeads,
    num_key_value_heads: config.numKvHeads,
    head_dim: config.headDim,
    rms_norm_eps: config.rmsNormEps,
    max_position_embeddings: config.maxPositionEmbeddings,
    tie_word_embeddings: config.tieWordEmbeddings,
    hidden_act: 'silu',
    bos_token_id: config.bosTokenId ?? null,
    eos_token_id: config.eosTokenIds.length === 1 ? config.eosTokenIds[0] : config.eosTokenIds.length === 0 ? null : [...config.eosTokenIds],
    torch_dtype: torchDtypeName(dtype),
  })
  const ropeScaling =
    scaling === undefined
      ? null
      : scaling.type === 'llama3'
        ? {
            rope_type: 'llama3',
            factor: scaling.factor,
            low_freq_factor: scaling.lowFreqFactor,
            high_freq_factor: scaling.highFreqFactor,
            original_max_position_embeddings: scaling.originalMaxPositionEmbeddings,
          }
        : { rope_type: scaling.type, factor: scaling.factor }
  if (isRecord(out.rope_parameters)) {
    out.rope_parameters = { ...(ropeScaling ?? { rope_type: 'default' }), rope_theta: config.ropeTheta }
  } else {
    out.rope_theta = config.ropeTheta
    out.rope_scaling = ropeScaling
  }
  if ('dtype' in out) out.dtype = torchDtypeName(dtype) // transformers ≥ 4.56 renamed torch_dtype
  return out
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x)
}
