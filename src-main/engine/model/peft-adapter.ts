/**
 * LoRA adapters as Hugging Face PEFT writes and reads them, so an adapter
 * trained here loads with `PeftModel.from_pretrained(base, dir)` and one
 * trained with PEFT loads here:
 *
 *   adapter_config.json        peft_type "LORA", task_type "CAUSAL_LM", r, lora_alpha,
 *                              target_modules (q_proj …), base_model_name_or_path, …
 *   adapter_model.safetensors  `base_model.model.<module path>.lora_A.weight` [r, in]
 *                              and `….lora_B.weight` [out, r]; with a trained final norm,
 *                              `base_model.model.model.norm.weight` (modules_to_save ["norm"])
 *   sorted.json                exits, per-exit validation (and a DyLoRA run's exits × ranks)
 *
 * The folder appears whole or not at all (written beside it, then renamed).
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { z } from 'zod'
import { parseSortedMetadata, SORTED_FILE } from './import'
import { loraSlots, mergeAdapter, peftModuleNames, targetOfModule, truncateAdapter, type AdapterKind, type AdapterSpec, type LoraTarget } from './lora'
import { readSafetensors, writeSafetensors } from './safetensors'
import type { ModelConfig, ModelWeights, SortedMetadata } from './types'
import { NORM_NAME } from './weight-map'

export const ADAPTER_CONFIG_FILE = 'adapter_config.json'
export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors'
/** PEFT's prefix: its PeftModel wraps a LoraModel that wraps the transformers model. */
const PEFT_PREFIX = 'base_model.model.'

export class AdapterError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'AdapterError'
  }
}

/** A LoRA adapter in memory: its settings, A and B by name (model/lora.ts), and the final norm if it was trained. */
export interface Adapter {
  spec: AdapterSpec
  tensors: Map<string, Float32Array>
  /** The exits' shared final norm, when trained with the adapter (PEFT's modules_to_save). */
  norm: Float32Array | undefined
  baseModel: string
  sorted: SortedMetadata | undefined
}

const AdapterConfigJson = z.object({
  peft_type: z.literal('LORA'),
  r: z.number().int().positive(),
  lora_alpha: z.number().positive(),
  target_modules: z.array(z.string()).nonempty(),
  base_model_name_or_path: z.string().nullish(),
  use_rslora: z.literal(false).optional(),
  use_dora: z.literal(false).optional(),
  bias: z.literal('none').optional(),
  fan_in_fan_out: z.literal(false).optional(),
  modules_to_save: z.array(z.string()).nullish(),
})

/** The adapter's kind as sorted.json records it (PEFT itself only knows LoRA). */
function kindOf(sorted: SortedMetadata | undefined): AdapterKind {
  const adapter = sorted?.adapter as { kind?: unknown } | undefined
  return adapter?.kind === 'dylora' ? 'dylora' : 'lora'
}

export function writePeftAdapter(outDir: string, config: ModelConfig, adapter: Adapter): string[] {
  const target = resolve(outDir)
  if (existsSync(target) && readdirSync(target).length > 0) throw new AdapterError(`${target} is not empty; give a new or empty folder for the adapter.`)
  const tensors = loraSlots(config, adapter.spec).map((slot) => {
    const data = adapter.tensors.get(slot.name)
    if (!data || data.length !== slot.shape[0] * slot.shape[1]) throw new AdapterError(`${join(target, ADAPTER_WEIGHTS_FILE)}: the adapter has no ${slot.name} of shape [${slot.shape.join(', ')}]`)
    return { name: PEFT_PREFIX + slot.name, shape: [...slot.shape], data }
  })
  if (adapter.norm) tensors.push({ name: PEFT_PREFIX + NORM_NAME, shape: [config.hiddenSize], data: adapter.norm })
  const peftConfig = {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: adapter.baseModel,
    r: adapter.spec.rank,
    lora_alpha: adapter.spec.alpha,
    lora_dropout: 0,
    target_modules: peftModuleNames(config, adapter.spec.targets),
    modules_to_save: adapter.norm ? ['norm'] : null,
    bias: 'none',
    fan_in_fan_out: false,
    use_rslora: false,
    use_dora: false,
    inference_mode: true,
    init_lora_weights: true,
  }
  mkdirSync(dirname(target), { recursive: true })
  const staging = mkdtempSync(join(dirname(target), `.${basename(target)}.adapter-`))
  try {
    writeFileSync(join(staging, ADAPTER_CONFIG_FILE), `${JSON.stringify(peftConfig, null, 2)}\n`)
    writeSafetensors(join(staging, ADAPTER_WEIGHTS_FILE), tensors, { dtype: 'F32', metadata: { format: 'pt' } })
    if (adapter.sorted) writeFileSync(join(staging, SORTED_FILE), `${JSON.stringify(adapter.sorted, null, 2)}\n`)
    const files = readdirSync(staging).sort()
    if (existsSync(target)) rmSync(target, { recursive: true })
    renameSync(staging, target)
    return files
  } catch (error) {
    rmSync(staging, { recursive: true, force: true })
    throw error
  }
}

/** True when `dir` holds a PEFT adapter (its adapter_config.json). */
export function isAdapterFolder(dir: string): boolean {
  return existsSync(join(dir, ADAPTER_CONFIG_FILE))
}

/** Reads a PEFT LoRA adapter for a base model with `config`; errors name the file and the field or tensor. */
/** adapter_config.json, checked: errors name the file and the field. */
function readAdapterConfig(dir: string): { configFile: string; peft: z.infer<typeof AdapterConfigJson> } {
  const configFile = join(dir, ADAPTER_CONFIG_FILE)
  if (!existsSync(configFile)) throw new AdapterError(`${dir} is not a PEFT adapter folder: it has no ${ADAPTER_CONFIG_FILE}`)
  let json: unknown
  try {
    json = JSON.parse(readFileSync(configFile, 'utf8'))
  } catch (error) {
    throw new AdapterError(`${configFile}: not valid JSON (${(error as Error).message})`)
  }
  const parsed = AdapterConfigJson.safeParse(json)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new AdapterError(`${configFile}: field "${issue?.path.join('.') || '(root)'}": ${issue?.message ?? 'invalid'} (only plain LoRA adapters on the decoder's linear layers are supported)`)
  }
  return { configFile, peft: parsed.data }
}

/** An adapter's settings from its small files only (no weights, no base model): what the library lists. */
export interface AdapterSettings {
  kind: AdapterKind
  rank: number
  alpha: number
  /** PEFT module names (q_proj, …). */
  targets: string[]
  trainNorm: boolean
  /** A DyLoRA run's final validation loss per rank (key) and exit (inner key), from sorted.json's `results_by_rank`. */
  resultsByRank?: Record<string, Record<string, number>>
}

/** sorted.json's `results_by_rank`: whole-number ranks and exits, finite losses. */
const ResultsByRank = z.record(z.string().regex(/^[1-9]\d*$/), z.record(z.string().regex(/^[1-9]\d*$/), z.number().finite()))

export function readAdapterSettings(dir: string): AdapterSettings {
  const { peft } = readAdapterConfig(dir)
  const sortedFile = join(dir, SORTED_FILE)
  let kind: AdapterKind = 'lora'
  let resultsByRank: AdapterSettings['resultsByRank']
  try {
    if (existsSync(sortedFile)) {
      const sorted = JSON.parse(readFileSync(sortedFile, 'utf8')) as { adapter?: { kind?: unknown }; results_by_rank?: unknown }
      kind = sorted.adapter?.kind === 'dylora' ? 'dylora' : 'lora'
      const byRank = ResultsByRank.safeParse(sorted.results_by_rank)
      // Only a DyLoRA run's table, and only one that is whole: the library shows it as measured or not at all.
      if (kind === 'dylora' && byRank.success && Object.keys(byRank.data).length > 0) resultsByRank = byRank.data
    }
  } catch {
    // A damaged sorted.json is refused, naming it, when the adapter is read for a base (readPeftAdapter).
  }
  return {
    kind,
    rank: peft.r,
    alpha: peft.lora_alpha,
    targets: [...peft.target_modules],
    trainNorm: (peft.modules_to_save ?? []).length > 0,
    ...(resultsByRank ? { resultsByRank } : {}),
  }
}

export function readPeftAdapter(dir: string, config: ModelConfig): Adapter {
  const { configFile, peft } = readAdapterConfig(dir)
  const targets: LoraTarget[] = peft.target_modules.map((module) => {
    const target = targetOfModule(config, module)
    if (!target) throw new AdapterError(`${configFile}: field "target_modules": "${module}" is not one of ${peftModuleNames(config, ['q', 'k', 'v', 'o', 'gate', 'up', 'down']).join(', ')}`)
    return target
  })
  const trainsNorm = (peft.modules_to_save ?? []).length > 0
  if (trainsNorm && (peft.modules_to_save!.length !== 1 || peft.modules_to_save![0] !== 'norm')) {
    throw new AdapterError(`${configFile}: field "modules_to_save": only ["norm"] (the final norm) is supported, got ${JSON.stringify(peft.modules_to_save)}`)
  }
  const sortedFile = join(dir, SORTED_FILE)
  const sorted = existsSync(sortedFile) ? parseSortedMetadata(JSON.parse(readFileSync(sortedFile, 'utf8')), sortedFile, config.numLayers) : undefined
  const spec: AdapterSpec = { kind: kindOf(sorted), rank: peft.r, alpha: peft.lora_alpha, targets }

  const weightsFile = join(dir, ADAPTER_WEIGHTS_FILE)
  if (!existsSync(weightsFile)) throw new AdapterError(`${dir} has no ${ADAPTER_WEIGHTS_FILE}`)
  const stored = readSafetensors(weightsFile).tensors
  const tensors = new Map<string, Float32Array>()
  const expected = new Set<string>()
  for (const slot of loraSlots(config, spec)) {
    const key = PEFT_PREFIX + slot.name
    expected.add(key)
    const t = stored.get(key)
    if (!t) throw new AdapterError(`${weightsFile}: tensor "${key}" is missing`)
    if (t.shape.length !== 2 || t.shape[0] !== slot.shape[0] || t.shape[1] !== slot.shape[1]) {
      throw new AdapterError(`${weightsFile}: tensor "${key}" has shape [${t.shape.join(', ')}], the base model and r ${spec.rank} need [${slot.shape.join(', ')}]`)
    }
    tensors.set(slot.name, t.data)
  }
  let norm: Float32Array | undefined
  if (trainsNorm) {
    const key = PEFT_PREFIX + NORM_NAME
    expected.add(key)
    const t = stored.get(key)
    if (!t || t.data.length !== config.hiddenSize) throw new AdapterError(`${weightsFile}: tensor "${key}" [${config.hiddenSize}] is missing (modules_to_save lists "norm")`)
    norm = t.data
  }
  const unexpected = [...stored.keys()].find((key) => !expected.has(key))
  if (unexpected) throw new AdapterError(`${weightsFile}: tensor "${unexpected}" is not one this adapter's config describes (target_modules ${peft.target_modules.join(', ')})`)
  return { spec, tensors, norm, baseModel: peft.base_model_name_or_path ?? '', sorted }
}

/**
 * The base weights with the adapter merged in (W + alpha/r·B·A, and the trained final norm),
 * at `rank` when given (a DyLoRA adapter's nested rank-b adapter, model/lora.ts truncateAdapter).
 */
export function mergedWeights(config: ModelConfig, weights: ModelWeights, adapter: Adapter, rank?: number): ModelWeights {
  let { spec, tensors } = adapter
  if (rank !== undefined && rank !== spec.rank) {
    if (!Number.isInteger(rank) || rank < 1 || rank > spec.rank) throw new AdapterError(`rank ${rank} is not between 1 and the adapter's r ${spec.rank}`)
    ;({ spec, tensors } = truncateAdapter(config, spec, tensors, rank))
  }
  const merged = mergeAdapter(config, weights, spec, tensors)
  return adapter.norm ? { ...merged, norm: adapter.norm } : merged
}

/** What a load merged in: the adapter's folder, the rank used (of its r), and its kind. */
export interface AppliedAdapter {
  path: string
  rank: number
  r: number
  kind: AdapterKind
}

/**
 * The `adapt` step ModelSession.open takes for an adapter folder: read for
 * the base's config (so a wrong shape is refused naming the tensor) and
 * merged in, at `rank` for a DyLoRA adapter's nested adapter. `applied()`
 * says what was merged once the load has run it.
 */
export function peftAdapterMerge(dir: string, rank?: number): { adapt: (config: ModelConfig, weights: ModelWeights) => ModelWeights; applied: () => AppliedAdapter | undefined } {
  let applied: AppliedAdapter | undefined
  return {
    adapt(config, weights) {
      const adapter = readPeftAdapter(dir, config)
      if (rank !== undefined && rank > adapter.spec.rank) throw new AdapterError(`${join(dir, ADAPTER_CONFIG_FILE)}: rank ${rank} is above the adapter's r ${adapter.spec.rank}`)
      const merged = mergedWeights(config, weights, adapter, rank)
      applied = { path: dir, rank: rank ?? adapter.spec.rank, r: adapter.spec.rank, kind: adapter.spec.kind }
      return merged
    },
    applied: () => applied,
  }
}
