/**
 * A Hugging Face model folder → LoadedModel: config.json, the safetensors
 * weights (one file, or shards with model.safetensors.index.json), the
 * tokenizer files beside them and sorted.json when the model was sorted-tuned.
 *
 * Every tensor the config implies is located and shape-checked from the
 * headers before any data is read, so a wrong checkpoint fails in
 * milliseconds, naming the file and the tensor. Tensors the engine would not
 * use (an o_proj bias, a layer past num_hidden_layers) are refused rather than
 * dropped: ignoring weights would run a different model than the one saved.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { basename, join } from 'node:path'
import { z } from 'zod'
import { ConfigError, parseConfig } from './config'
import { readPrequantizedLinear, quantizedTensorSpecs, type QuantizedTensorSpec } from './prequantized-weights'
import { QuantizationError } from './quant/blockwise'
import { quantizeForPrecision, type QuantizationSettings } from './quant/linear'
import { parseQuantizationConfig, type PrequantizedConfig } from './quant/prequantized-config'
import { SafetensorsFile } from './safetensors'
import type { LayerWeights, LinearField, LoadedModel, ModelConfig, ModelWeights, SortedMetadata } from './types'
import { LM_HEAD_NAME, setWeight, weightSlots, type WeightSlot } from './weight-map'

/** Files copied along with the weights: tokenizer, chat template and generation defaults. */
export const TOKENIZER_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'generation_config.json',
  'tokenizer.model',
  'added_tokens.json',
  'vocab.json',
  'merges.txt',
  'chat_template.jinja',
  'chat_template.json',
] as const

export const SORTED_FILE = 'sorted.json'

export class ModelImportError extends Error {
  constructor(
    readonly file: string,
    readonly tensor: string | undefined,
    detail: string,
  ) {
    super(tensor === undefined ? `${file}: ${detail}` : `${file}: tensor "${tensor}": ${detail}`)
    this.name = 'ModelImportError'
  }
}

/** Checkpoint tensors that hold no weights (old Llama exports saved the rotary table). */
function isIgnorable(name: string, config: ModelConfig): boolean {
  // With tied embeddings transformers ignores a saved lm_head and uses the embedding.
  return name.endsWith('rotary_emb.inv_freq') || (config.tieWordEmbeddings && name === LM_HEAD_NAME)
}

// ---------------------------------------------------------------------------
// Locating the weight files

const WeightIndex = z.looseObject({
  metadata: z.unknown().optional(),
  weight_map: z.record(z.string(), z.string()),
})

const SHARD = /^model-(\d+)-of-(\d+)\.safetensors$/

interface WeightFiles {
  /** Absolute paths of the safetensors files. */
  files: string[]
  /** The file to name when a tensor is missing altogether. */
  describedBy: string
  /** tensor → file, from the index, when there is one. */
  index: Map<string, string> | undefined
}

function readJson(file: string): unknown {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    throw new ModelImportError(file, undefined, `cannot read (${error instanceof Error ? error.message : String(error)})`)
  }
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new ModelImportError(file, undefined, `not valid JSON (${error instanceof Error ? error.message : String(error)})`)
  }
}

function locateWeights(dir: string): WeightFiles {
  const indexFile = join(dir, 'model.safetensors.index.json')
  if (existsSync(indexFile)) {
    const parsed = WeightIndex.safeParse(readJson(indexFile))
    if (!parsed.success) {
      const issue = parsed.error.issues[0]
      throw new ModelImportError(indexFile, undefined, `field "${issue?.path.join('.') || '(root)'}": ${issue?.message ?? 'invalid'}`)
    }
    const index = new Map<string, string>()
    for (const [tensor, shard] of Object.entries(parsed.data.weight_map)) {
      // A shard is a file in this folder, never a path that leads out of it.
      if (shard !== basename(shard) || shard === '..' || !shard.endsWith('.safetensors')) {
        throw new ModelImportError(indexFile, tensor, `weight_map names "${shard}", which is not a .safetensors file in this folder`)
      }
      const file = join(dir, shard)
      if (!existsSync(file)) throw new ModelImportError(indexFile, tensor, `weight_map names ${shard}, which does not exist`)
      index.set(tensor, file)
    }
    return { files: [...new Set(index.values())], describedBy: indexFile, index }
  }
  const single = join(dir, 'model.safetensors')
  if (existsSync(single)) return { files: [single], describedBy: single, index: undefined }

  const names = readdirSync(dir)
  const shards = names.filter((n) => SHARD.test(n)).sort()
  if (shards.length > 0) {
    // Shards without their index: usable only if the set is complete.
    const total = Number(SHARD.exec(shards[0] as string)?.[2])
    const width = (SHARD.exec(shards[0] as string)?.[1] ?? '').length
    for (let i = 1; i <= total; i++) {
      const expected = `model-${String(i).padStart(width, '0')}-of-${String(total).padStart(width, '0')}.safetensors`
      if (!shards.includes(expected)) throw new ModelImportError(join(dir, expected), undefined, 'shard missing (and no model.safetensors.index.json)')
    }
    return { files: shards.map((n) => join(dir, n)), describedBy: dir, index: undefined }
  }
  if (names.some((n) => n.endsWith('.bin') || n.endsWith('.pt') || n.endsWith('.pth'))) {
    throw new ModelImportError(dir, undefined, 'holds PyTorch pickle weights only; convert them to safetensors (model.safetensors) first')
  }
  throw new ModelImportError(dir, undefined, 'no model.safetensors or model.safetensors.index.json: not a Hugging Face model folder')
}

// ---------------------------------------------------------------------------
// sorted.json

const SortedJson = z.looseObject({
  exits: z.array(z.number().int()).min(1),
  results: z.record(z.string(), z.record(z.string(), z.number())).default({}),
})

/**
 * Checks sorted metadata against a model with `numLayers` layers: exits are
 * strictly ascending layer counts within 1..numLayers. `file` names the source in errors.
 */
export function parseSortedMetadata(json: unknown, file: string, numLayers: number): SortedMetadata {
  const parsed = SortedJson.safeParse(json)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new ModelImportError(file, undefined, `field "${issue?.path.join('.') || '(root)'}": ${issue?.message ?? 'invalid'}`)
  }
  const { exits } = parsed.data
  exits.forEach((exit, i) => {
    if (exit < 1 || exit > numLayers) throw new ModelImportError(file, undefined, `field "exits": exit ${exit} is outside 1..${numLayers} (the model's layers)`)
    if (i > 0 && exit <= (exits[i - 1] as number)) throw new ModelImportError(file, undefined, `field "exits": [${exits.join(', ')}] is not strictly ascending`)
  })
  return parsed.data as SortedMetadata
}

// ---------------------------------------------------------------------------

function emptyLayer(): LayerWeights {
  const none = new Float32Array(0)
  return { attnNorm: none, q: none, k: none, v: none, o: none, mlpNorm: none, gate: none, up: none, down: none }
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

/** Dtypes a weight may be stored in: an integer tensor where a float belongs is a broken export, not a weight. */
const FLOAT_WEIGHT_DTYPES: ReadonlySet<string> = new Set(['F32', 'F16', 'BF16', 'F64'])

/**
 * Index of the first NaN or ±Infinity in `data`, or −1. Reads the bits (an
 * all-ones exponent) rather than calling Number.isFinite per element: one
 * integer pass, a few ms per hundred MB.
 */
export function firstNonFinite(data: Float32Array): number {
  const bits = new Uint32Array(data.buffer, data.byteOffset, data.length)
  for (let i = 0; i < bits.length; i++) if (((bits[i] as number) & 0x7f800000) === 0x7f800000) return i
  return -1
}

/** The weight files of a folder, opened (headers only) and checked against its config. */
interface CheckedWeights {
  opened: SafetensorsFile[]
  /** Which open file holds each tensor. */
  holder: Map<string, SafetensorsFile>
  slots: WeightSlot[]
  /** For each Linear slot a pre-quantized checkpoint stores packed: its tensors (in place of `<module>.weight`). */
  packed: Map<string, QuantizedTensorSpec[]>
  totalBytes: number
}

/** Checks one stored tensor's shape and dtype against what the config implies. */
function checkTensor(st: SafetensorsFile, name: string, shape: number[], dtypeOk: (dtype: string) => boolean, dtypeWanted: string): number {
  const info = st.info(name)
  if (!sameShape(info.shape, shape)) {
    throw new ModelImportError(st.file, name, `shape [${info.shape.join(', ')}] does not match config.json, which implies [${shape.join(', ')}]`)
  }
  if (!dtypeOk(info.dtype)) throw new ModelImportError(st.file, name, `dtype ${info.dtype} is not ${dtypeWanted}`)
  return info.dataOffsets[1] - info.dataOffsets[0]
}

/**
 * Opens every weight file's header and checks it against `config`: each
 * tensor the config implies is present with its shape and a float dtype, no
 * tensor is left over, and the layer count agrees. Reads no tensor data.
 * The caller closes `opened`; on failure they are closed here.
 */
function openCheckedWeights(dir: string, configFile: string, config: ModelConfig, quant: PrequantizedConfig | undefined): CheckedWeights {
  const located = locateWeights(dir)
  const opened: SafetensorsFile[] = []
  try {
    // Which file holds each tensor, from the headers alone.
    const holder = new Map<string, SafetensorsFile>()
    for (const file of located.files) {
      const st = SafetensorsFile.open(file)
      opened.push(st)
      for (const name of st.names()) {
        const other = holder.get(name)
        if (other) throw new ModelImportError(file, name, `also stored in ${other.file}`)
        holder.set(name, st)
      }
    }
    for (const [name, file] of located.index ?? []) {
      if (holder.get(name)?.file !== file) throw new ModelImportError(file, name, `model.safetensors.index.json places this tensor here, but the file does not hold it`)
    }

    const slots = weightSlots(config)
    const packed = new Map<string, QuantizedTensorSpec[]>()
    for (const slot of slots) {
      const specs = quantizedTensorSpecs(slot, quant)
      if (specs) packed.set(slot.name, specs)
    }
    const expected = new Set(slots.flatMap((s) => packed.get(s.name)?.map((spec) => spec.name) ?? [s.name]))
    let layersInWeights = 0
    for (const [name, st] of holder) {
      const layer = /^model\.layers\.(\d+)\./.exec(name)?.[1]
      if (layer !== undefined) layersInWeights = Math.max(layersInWeights, Number(layer) + 1)
      if (expected.has(name) || isIgnorable(name, config)) continue
      if (layer !== undefined && Number(layer) >= config.numLayers) {
        throw new ModelImportError(st.file, name, `layer ${layer} is beyond num_hidden_layers ${config.numLayers} in config.json`)
      }
      throw new ModelImportError(st.file, name, `unexpected tensor: a ${config.hfArchitecture} with this config.json has no such weight`)
    }
    let totalBytes = 0
    for (const slot of slots) {
      const specs = packed.get(slot.name)
      if (specs) {
        for (const spec of specs) {
          const st = holder.get(spec.name)
          if (!st) {
            if (spec.optional) continue
            if (slot.layer !== undefined && slot.layer >= layersInWeights) {
              throw new ConfigError(configFile, 'num_hidden_layers', `${config.numLayers}, but the weights (${located.describedBy}) hold ${layersInWeights} layers`)
            }
            throw new ModelImportError(located.describedBy, spec.name, `missing (config.json's quantization_config implies shape [${spec.shape.join(', ')}] ${spec.dtype})`)
          }
          // Packed codes and zeros are int32; scales fp16 as the packers write them (fp32 is read too).
          totalBytes += checkTensor(st, spec.name, spec.shape, (d) => d === spec.dtype, spec.dtype)
        }
        continue
      }
      const st = holder.get(slot.name)
      if (!st) {
        // A whole layer missing past the last one stored: the config's layer count is what is wrong.
        if (slot.layer !== undefined && slot.layer >= layersInWeights) {
          throw new ConfigError(configFile, 'num_hidden_layers', `${config.numLayers}, but the weights (${located.describedBy}) hold ${layersInWeights} layers`)
        }
        throw new ModelImportError(located.describedBy, slot.name, `missing (expected shape [${slot.shape.join(', ')}])`)
      }
      const info = st.info(slot.name)
      if (!sameShape(info.shape, slot.shape)) {
        throw new ModelImportError(st.file, slot.name, `shape [${info.shape.join(', ')}] does not match config.json, which implies [${slot.shape.join(', ')}]`)
      }
      if (!FLOAT_WEIGHT_DTYPES.has(info.dtype)) {
        throw new ModelImportError(st.file, slot.name, `dtype ${info.dtype} is not a floating-point type (weights are F32, F16, BF16 or F64)`)
      }
      totalBytes += info.dataOffsets[1] - info.dataOffsets[0]
    }
    return { opened, holder, slots, packed, totalBytes }
  } catch (error) {
    for (const st of opened) st.close()
    throw error
  }
}

/** config.json of a model folder, parsed and checked (throws ModelImportError or ConfigError naming the file). */
function readFolderConfig(dir: string): { config: ModelConfig; configFile: string; quant: PrequantizedConfig | undefined } {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ModelImportError(dir, undefined, 'is not a folder')
  const configFile = join(dir, 'config.json')
  if (!existsSync(configFile)) throw new ModelImportError(configFile, undefined, 'missing: not a Hugging Face model folder')
  const json = readJson(configFile)
  // The quantization section first: an unsupported variant is named before any shape disagrees.
  const quant = parseQuantizationConfig(json, configFile)
  return { config: parseConfig(json, configFile), configFile, quant }
}

/**
 * A model folder's config and sorted metadata without its weights: what a
 * picker needs (layers, exits) in milliseconds. The weight files' headers
 * are checked against the config (no tensor data is read), so a folder this
 * accepts is one loadModelFolder can load. Throws ConfigError,
 * SafetensorsError or ModelImportError naming the file, like loadModelFolder.
 */
export function inspectModelFolder(dir: string): { config: ModelConfig; sorted: SortedMetadata | undefined; prequantized: PrequantizedConfig | undefined } {
  const { config, configFile, quant } = readFolderConfig(dir)
  for (const st of openCheckedWeights(dir, configFile, config, quant).opened) st.close()
  const sortedFile = join(dir, SORTED_FILE)
  const sorted = existsSync(sortedFile) ? parseSortedMetadata(readJson(sortedFile), sortedFile, config.numLayers) : undefined
  return { config, sorted, prequantized: quant }
}

export interface LoadFolderOptions {
  /**
   * What to do with a GPTQ/AWQ checkpoint: 'repack' its Linear layers into
   * MatMulNBits weights (inference), or 'refuse' (default): a caller that
   * needs float weights (tuning, export) must not get empty ones.
   */
  prequantized?: 'refuse' | 'repack'
  /**
   * Quantize each decoder Linear as soon as it is read (then drop its fp32
   * copy), so the load's peak stays near the quantized size instead of the
   * whole fp32 model. Same rounding as the graphs' own (quantizeForPrecision).
   * An untied LM head is quantized to int8 the same way (the graphs' head
   * in every quantized format but the benchmarks' fp32-head variant).
   * The caller must run the graphs in this precision (MatMulNBits available).
   */
  quantize?: QuantizationSettings
}

/**
 * A model folder opened for reading part by part: the config, sorted.json
 * and the weight files' headers are read and checked at once; tensors are
 * read into `weights` when asked for, so a caller that hands each part on
 * (the runtime, compiling one graph at a time) never holds the whole model.
 */
export interface ModelFolderReader {
  readonly dir: string
  readonly config: ModelConfig
  /** What has been read so far; parts not read yet hold empty arrays. */
  readonly weights: ModelWeights
  readonly sorted: SortedMetadata | undefined
  readonly tokenizerFiles: string[]
  /** Reads the embedding, the final norm and the LM head. */
  readOuter(): void
  /** Reads decoder layer `index`. */
  readLayer(index: number): void
  /** Closes the weight files. */
  close(): void
}

/**
 * Opens a Hugging Face model folder (see ModelFolderReader). `onProgress`
 * gets the fraction of weight bytes read so far (0..1) and what is being
 * read. Throws ConfigError, SafetensorsError or ModelImportError, each naming
 * the file (and the tensor), when opening or when reading a part.
 */
export function openModelFolder(dir: string, onProgress?: (fraction: number, message: string) => void, options: LoadFolderOptions = {}): ModelFolderReader {
  const { config, configFile, quant } = readFolderConfig(dir)
  if (quant && options.quantize) throw new ModelImportError(configFile, undefined, 'holds pre-quantized weights: they are not quantized again')
  if (quant && options.prequantized !== 'repack') {
    throw new ModelImportError(configFile, undefined, `holds ${quant.method.toUpperCase()} 4-bit weights (quantization_config): they load for generation only, not as float weights`)
  }
  const sortedFile = join(dir, SORTED_FILE)
  const sorted = existsSync(sortedFile) ? parseSortedMetadata(readJson(sortedFile), sortedFile, config.numLayers) : undefined
  const tokenizerFiles = TOKENIZER_FILES.filter((name) => existsSync(join(dir, name)))
  onProgress?.(0, 'reading headers')
  const { opened, holder, slots, packed, totalBytes } = openCheckedWeights(dir, configFile, config, quant)
  // Every layer of a pre-quantized checkpoint gets a (maybe empty) `prequantized`: graphs.ts keeps its other Linears fp32.
  const layers = Array.from({ length: config.numLayers }, (): LayerWeights => (quant ? { ...emptyLayer(), prequantized: {} } : emptyLayer()))
  const weights: ModelWeights = { embed: new Float32Array(0), layers, norm: new Float32Array(0), lmHead: undefined, ...(quant ? { prequantized: quant.method } : {}) }
  let doneBytes = 0
  const progress = (message: string) => onProgress?.(totalBytes === 0 ? 0 : doneBytes / totalBytes, message)

  function readSlot(slot: WeightSlot): void {
    const specs = packed.get(slot.name)
    if (specs && quant && slot.layer !== undefined) {
      progress(`repacking ${slot.name.replace(/\.weight$/, '')}`)
      const layer = layers[slot.layer]!
      try {
        layer.prequantized![slot.field as LinearField] = readPrequantizedLinear(slot, specs, quant, (name) => holder.get(name))
      } catch (error) {
        if (error instanceof QuantizationError) throw new ModelImportError(holder.get(specs[0]!.name)!.file, undefined, error.message)
        throw error
      }
      for (const spec of specs) {
        const info = holder.get(spec.name)?.info(spec.name)
        if (info) doneBytes += info.dataOffsets[1] - info.dataOffsets[0]
      }
      return
    }
    const st = holder.get(slot.name) as SafetensorsFile
    progress(`reading ${slot.name}`)
    const data = st.read(slot.name)
    // A NaN or infinity in a weight makes every logit NaN: generation would emit token 0 forever.
    const bad = firstNonFinite(data)
    if (bad >= 0) throw new ModelImportError(st.file, slot.name, `value ${bad} is ${data[bad]}: the checkpoint is corrupt (or was saved after training diverged)`)
    const quantized = slot.role === 'linear' && options.quantize ? quantizeForPrecision(data, slot.shape[0]!, slot.shape[1]!, options.quantize) : undefined
    if (quantized && slot.layer !== undefined) (layers[slot.layer]!.prequantized ??= {})[slot.field as LinearField] = quantized
    // The graphs hold the LM head int8 whenever the layers are quantized (weight-format.ts): the fp32 head is never needed.
    else if (slot.role === 'head' && options.quantize && options.quantize.precision !== 'fp32') {
      weights.lmHeadPacked = quantizeForPrecision(data, slot.shape[0]!, slot.shape[1]!, { precision: 'int8', blockSize: options.quantize.blockSize ?? 32 })
    } else setWeight(weights, slot, data)
    const info = st.info(slot.name)
    doneBytes += info.dataOffsets[1] - info.dataOffsets[0]
  }

  return {
    dir,
    config,
    weights,
    sorted,
    tokenizerFiles,
    readOuter: () => slots.filter((slot) => slot.layer === undefined).forEach(readSlot),
    readLayer: (index) => slots.filter((slot) => slot.layer === index).forEach(readSlot),
    close: () => opened.forEach((st) => st.close()),
  }
}

/**
 * Loads a whole Hugging Face model folder (openModelFolder, every part
 * read). Throws ConfigError, SafetensorsError or ModelImportError, each
 * naming the file (and the tensor).
 */
export function loadModelFolder(dir: string, onProgress?: (fraction: number, message: string) => void, options: LoadFolderOptions = {}): LoadedModel {
  const reader = openModelFolder(dir, onProgress, options)
  try {
    reader.readOuter()
    for (let i = 0; i < reader.config.numLayers; i++) reader.readLayer(i)
    onProgress?.(1, 'loaded')
    return { dir, config: reader.config, weights: reader.weights, tokenizerFiles: reader.tokenizerFiles, sorted: reader.sorted }
  } finally {
    reader.close()
  }
}
