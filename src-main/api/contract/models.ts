/**
 * The model library and model folders.
 * Part of the API contract (see index.ts).
 */
import { z } from 'zod'
import { Empty, WeightPrecision } from './common'

/** What loading a model at one precision would take and give, before it is loaded. */
export const PrecisionEstimate = z.object({
  precision: WeightPrecision,
  /** Weight bytes in memory, computed from config.json's shape (block 32; KV cache and runtime buffers come on top). */
  memoryBytes: z.number().nonnegative(),
  /** Decode speed relative to fp32 as measured by the decode bench (16 layers, d 1024, vocab 32k, CPU): a guide, not a promise. */
  measuredSpeedup: z.number().positive(),
})
export type PrecisionEstimate = z.infer<typeof PrecisionEstimate>

/** A model folder's shape as models.inspect reads it (config.json and sorted.json, no weights). */
export const ModelFolderShape = z.object({
  path: z.string(),
  name: z.string(),
  architecture: z.string(),
  numLayers: z.number().int().positive(),
  /** Exits the model offers: sorted.json's, else every layer count. */
  exits: z.array(z.number().int().positive()),
  /** Sizes the tuning estimate and the wizard show. */
  hiddenSize: z.number().int().positive(),
  numHeads: z.number().int().positive(),
  vocabSize: z.number().int().positive(),
  parameters: z.number().int().positive(),
  /** Whether it can format text: tokenizer.json, and a chat template of its own (else the Alpaca prompt). */
  hasTokenizer: z.boolean(),
  hasChatTemplate: z.boolean(),
  /** Per precision, its estimated weight memory and measured speed-up (what import offers). */
  precisions: z.array(PrecisionEstimate),
})
export type ModelFolderShape = z.infer<typeof ModelFolderShape>


export const ModelSource = z.enum(['bundled', 'imported', 'trained'])

/** Measured figures of one exit (as in sorted.json): val_loss, rouge_l, decode_tokens_per_s, … */
export const ExitResults = z.record(z.string(), z.number())

/** A LoRA / DyLoRA adapter in the library: the model it runs on, and its settings (adapter_config.json, sorted.json). */
export const AdapterSummary = z.object({
  baseModelId: z.string(),
  /** The base model's folder: loads of this entry load it with the adapter (ModelSummary.path, its PEFT folder) merged in. */
  basePath: z.string(),
  kind: z.enum(['lora', 'dylora']),
  rank: z.number().int().positive(),
  alpha: z.number().positive(),
  /** PEFT module names (q_proj, …). */
  targets: z.array(z.string()),
  trainNorm: z.boolean(),
  /** A DyLoRA run's final validation loss per rank (key) and exit (inner key), as its sorted.json's `results_by_rank` records it. */
  resultsByRank: z.record(z.string(), z.record(z.string(), z.number())).optional(),
})
export type AdapterSummary = z.infer<typeof AdapterSummary>

export const ModelSummary = z.object({
  id: z.string(),
  name: z.string(),
  /** The model's folder. */
  path: z.string(),
  source: ModelSource,
  architecture: z.string(),
  numLayers: z.number().int().positive(),
  /** Exits (layer counts) the model was sorted for, ascending; empty for a plain model (every layer count works). */
  exits: z.array(z.number().int().positive()),
  /** Per exit (keyed by the layer count), the figures measured for it. */
  results: z.record(z.string(), ExitResults),
  /** Bytes on disk (weights, tokenizer, metadata). */
  sizeBytes: z.number().nonnegative(),
  /** The precision the app loads it in (chat, comparisons, evaluations, the local API). */
  precision: WeightPrecision,
  /** Per precision, its estimated memory and measured speed; empty when config.json cannot be read. */
  precisions: z.array(PrecisionEstimate),
  /** Parameters (from config.json); absent when it cannot be read. */
  parameters: z.number().int().positive().optional(),
  /** Present for an adapter (its path is then the PEFT folder), listed under its base model. */
  adapter: AdapterSummary.optional(),
  createdAt: z.number(),
})
export type ModelSummary = z.infer<typeof ModelSummary>

export const ModelImportProgress = z.object({
  path: z.string(),
  /** 0..1 through validation, weight reading and graph compilation. */
  progress: z.number().min(0).max(1),
  message: z.string(),
})

const ModelRef = z.object({ modelId: z.string().min(1) }).strict()

/** Exact mode drafted at one exit, as a calibration measured it (engine/generate/draft-calibration.ts). */
export const DraftExitMeasurement = z.object({
  exit: z.number().int().positive(),
  /** Decode tokens/s of greedy Exact answers drafted at this exit. */
  tokensPerS: z.number().nonnegative(),
  /** tokensPerS ÷ full depth's. */
  speedup: z.number().nonnegative(),
  /** Drafts the full model accepted ÷ drafts made. */
  acceptanceRate: z.number().min(0).max(1),
  drafted: z.number().int().nonnegative(),
  accepted: z.number().int().nonnegative(),
  /** Every answer token-identical to full depth's. */
  matchesFullDepth: z.boolean(),
})
export type DraftExitMeasurement = z.infer<typeof DraftExitMeasurement>

export const DraftCalibration = z.object({
  fullDepthTokensPerS: z.number().nonnegative(),
  decodedTokens: z.number().int().nonnegative(),
  exits: z.array(DraftExitMeasurement),
  /** The fastest exit: the model's draft_exit from now on. */
  chosenExit: z.number().int().positive(),
  /** Whether it is faster than full depth (else Exact costs speed on this model and machine). */
  beatsFullDepth: z.boolean(),
  prompts: z.number().int().positive(),
  maxNewTokens: z.number().int().positive(),
  tries: z.number().int().positive(),
})
export type DraftCalibration = z.infer<typeof DraftCalibration>

export const ModelCalibrationProgress = z.object({
  modelId: z.string(),
  /** 0..1 through loading and measuring. */
  progress: z.number().min(0).max(1),
  message: z.string(),
})

export const modelsMethods = {
  /** Reads a model folder's config (and sorted.json) without loading weights: name, layers, exits. */
  'models.inspect': { request: z.object({ path: z.string().min(1) }).strict(), response: ModelFolderShape },
  /** Bundled, imported and trained models, bundled first. */
  'models.list': { request: Empty, response: z.object({ models: z.array(ModelSummary) }) },
  /** Validates a Hugging Face folder and compiles (in `precision`, default fp32, which it keeps) its graphs (progress as models.importProgress), then adds it to the library. */
  'models.import': {
    request: z.object({ path: z.string().min(1), precision: WeightPrecision.optional() }).strict(),
    response: z.object({ model: ModelSummary }),
  },
  /** Chooses the weight precision the app loads the model in from now on (its files are not changed). */
  'models.setPrecision': { request: ModelRef.extend({ precision: WeightPrecision }).strict(), response: z.object({ model: ModelSummary }) },
  /** Removes an imported or trained model from the library (its files stay on disk); bundled models cannot be removed. */
  'models.remove': { request: ModelRef, response: z.object({}) },
  /**
   * Measures Exact mode at every draft exit of an imported or trained model (in its engine worker of
   * its own, progress as models.calibrationProgress) and writes the fastest as draft_exit, with the
   * figures, into its sorted.json. Bundled models are refused: their folder ships with the app.
   */
  'models.calibrate': { request: ModelRef, response: z.object({ calibration: DraftCalibration, written: z.string() }) },
  /**
   * Adds a PEFT adapter folder (adapter_config.json + adapter_model.safetensors) trained elsewhere under a
   * library model, after loading base + adapter in an engine worker of its own (progress as
   * models.importProgress): shapes or target modules that do not fit the base are refused naming the file and field.
   */
  'models.importAdapter': {
    request: z.object({ path: z.string().min(1), baseModelId: z.string().min(1) }).strict(),
    response: z.object({ model: ModelSummary }),
  },
  /**
   * Merges an adapter into its base model as a new Hugging Face folder `to` (new or empty) in an engine
   * worker (progress as models.importProgress with path `to`), and adds that folder to the library.
   * `rank`: a DyLoRA adapter's nested rank (default its r).
   */
  'models.mergeAdapter': {
    request: ModelRef.extend({ to: z.string().min(1), rank: z.number().int().positive().optional() }).strict(),
    response: z.object({ model: ModelSummary }),
  },
  /** Copies the model's folder (an adapter's PEFT folder) to `to`, which must not exist yet. */
  'models.export': { request: ModelRef.extend({ to: z.string().min(1) }).strict(), response: z.object({ path: z.string() }) },
} as const

export const modelsEvents = {
  'models.importProgress': ModelImportProgress,
  'models.calibrationProgress': ModelCalibrationProgress,
  /** The model library changed (import, removal, a run's new model). */
  'models.changed': z.object({}),
} as const
