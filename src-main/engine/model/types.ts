/**
 * The in-memory model every part of the engine shares: a normalised config
 * (whatever the Hugging Face architecture called things) and float32 weights
 * in Hugging Face's layout (a Linear weight is [out, in], row-major).
 */
import type { QuantizedLinear } from './quant/blockwise'

export type Architecture = 'llama' | 'mistral' | 'qwen2' | 'qwen3'

export type RopeScaling =
  | { type: 'linear'; factor: number }
  /** "dynamic" NTK: the base grows with the sequence length beyond maxPositionEmbeddings. */
  | { type: 'dynamic'; factor: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositionEmbeddings: number }

export interface ModelConfig {
  architecture: Architecture
  /** As in config.json, e.g. 'LlamaForCausalLM'. */
  hfArchitecture: string
  vocabSize: number
  hiddenSize: number
  intermediateSize: number
  numLayers: number
  numHeads: number
  numKvHeads: number
  headDim: number
  rmsNormEps: number
  ropeTheta: number
  ropeScaling: RopeScaling | undefined
  maxPositionEmbeddings: number
  tieWordEmbeddings: boolean
  /** q/k/v projections carry biases (Qwen2). */
  attentionBias: boolean
  /** Per-head RMSNorm on q and k before rotary embedding (Qwen3). */
  qkNorm: boolean
  bosTokenId: number | undefined
  eosTokenIds: number[]
  /** config.json as read, written back on export. */
  raw: Record<string, unknown>
}

/** The Linear fields of a layer (the ones a pre-quantized checkpoint stores packed). */
export type LinearField = 'q' | 'k' | 'v' | 'o' | 'gate' | 'up' | 'down'

export interface LayerWeights {
  attnNorm: Float32Array // [d]
  q: Float32Array // [heads·headDim, d]
  k: Float32Array // [kvHeads·headDim, d]
  v: Float32Array // [kvHeads·headDim, d]
  o: Float32Array // [d, heads·headDim]
  qBias?: Float32Array // [heads·headDim]      (attentionBias)
  kBias?: Float32Array // [kvHeads·headDim]
  vBias?: Float32Array // [kvHeads·headDim]
  qNorm?: Float32Array // [headDim]            (qkNorm)
  kNorm?: Float32Array // [headDim]
  mlpNorm: Float32Array // [d]
  gate: Float32Array // [intermediate, d]
  up: Float32Array // [intermediate, d]
  down: Float32Array // [d, intermediate]
  /**
   * Linear weights a pre-quantized (GPTQ/AWQ) checkpoint stored packed,
   * already in MatMulNBits form; their float fields above are then empty.
   * Present (maybe empty) on every layer of such a checkpoint: its other
   * Linears (modules_to_not_convert) then run fp32, as their author kept them.
   */
  prequantized?: Partial<Record<LinearField, QuantizedLinear>>
}

export interface ModelWeights {
  embed: Float32Array // [vocab, d]
  layers: LayerWeights[]
  norm: Float32Array // [d]
  /** [vocab, d]; undefined when tied to `embed`. */
  lmHead: Float32Array | undefined
  /** An untied LM head quantized (int8) while it was read; `lmHead` is then undefined. */
  lmHeadPacked?: QuantizedLinear
  /** Set when the checkpoint was quantized by GPTQ/AWQ: its Linear layers exist only as 4-bit MatMulNBits weights. */
  prequantized?: 'gptq' | 'awq'
}

export interface LoadedModel {
  /** Folder it was read from. */
  dir: string
  config: ModelConfig
  weights: ModelWeights
  /** tokenizer.json / tokenizer_config.json found beside the weights. */
  tokenizerFiles: string[]
  /** sorted.json, when the model was sorted-tuned (exits and per-exit results). */
  sorted: SortedMetadata | undefined
}

export interface SortedMetadata {
  /** Layer counts of the sub-models, ascending; the last is numLayers. */
  exits: number[]
  /** Per-exit evaluation results and speed, keyed by exit. */
  results: Record<string, Record<string, number>>
  /** Anything else recorded (seed, training config, …). */
  [key: string]: unknown
}
