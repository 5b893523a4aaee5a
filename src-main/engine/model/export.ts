/**
 * ModelConfig + ModelWeights → a Hugging Face folder other tools open:
 * config.json, model.safetensors (HF tensor names, `format: pt` metadata),
 * the tokenizer files, and sorted.json for a sorted-tuned model.
 *
 * The folder appears whole or not at all: everything is written into a
 * temporary folder beside the destination and renamed into place, so a crash
 * or a bad weight never leaves a half-written model where a user (or the
 * importer) would find it.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { configToJson } from './config'
import { parseSortedMetadata, SORTED_FILE, TOKENIZER_FILES } from './import'
import { QuantizationError } from './quant/blockwise'
import { gptqQuantizationConfig, toGptqTensors } from './quant/gptq'
import { quantizeForPrecision } from './quant/linear'
import { writeSafetensors, type FloatDtype, type FloatTensorToWrite, type TensorToWrite } from './safetensors'
import type { LoadedModel, ModelConfig, ModelWeights, SortedMetadata } from './types'
import type { UserBlockSize } from './weight-format'
import { LM_HEAD_NAME, OPTIONAL_LAYER_FIELDS, slotSize, weightOf, weightSlots, type WeightSlot } from './weight-map'

export interface ExportOptions {
  /** Stored dtype of the float weights; default F32 (lossless for the float32 weights in memory). */
  dtype?: FloatDtype
  /**
   * Write the decoder Linear layers 4-bit in GPTQ's published packing
   * (qweight/qzeros/scales/g_idx, `quantization_config` in config.json), with
   * this block size as the group size: RTN-quantized exactly as `--weights
   * int4` does, so loading the folder gives the same packed weights.
   * Embedding, norms and LM head stay float (`dtype`).
   */
  gptq?: { blockSize: UserBlockSize }
  /** Folder to copy tokenizer files from; default the model's own folder when it has one. */
  tokenizerFrom?: string
  /** Replace a non-empty outDir; without it, exporting onto one is refused. */
  overwrite?: boolean
}

export interface ExportableModel {
  config: ModelConfig
  weights: ModelWeights
  sorted?: SortedMetadata | undefined
  /** Where the model was loaded from (LoadedModel.dir): the default source of tokenizer files. */
  dir?: string
}

export interface ExportResult {
  dir: string
  /** Names of the files written, sorted. */
  files: string[]
}

export class ModelExportError extends Error {
  constructor(
    readonly file: string,
    readonly tensor: string | undefined,
    detail: string,
  ) {
    super(tensor === undefined ? `${file}: ${detail}` : `${file}: tensor "${tensor}": ${detail}`)
    this.name = 'ModelExportError'
  }
}

/** The tensors to write, after checking the weights are exactly what the config describes. */
function tensorsToWrite(outDir: string, config: ModelConfig, weights: ModelWeights): { slot: WeightSlot; tensor: FloatTensorToWrite }[] {
  const file = join(outDir, 'model.safetensors')
  if (weights.layers.length !== config.numLayers) {
    throw new ModelExportError(file, undefined, `weights have ${weights.layers.length} layers but the config says ${config.numLayers}`)
  }
  if (weights.prequantized) throw new ModelExportError(file, undefined, `the model was loaded from ${weights.prequantized.toUpperCase()} 4-bit weights and has no float weights to export`)
  if (config.tieWordEmbeddings && weights.lmHead !== undefined) {
    throw new ModelExportError(file, LM_HEAD_NAME, 'the config ties embeddings but the weights hold a separate LM head')
  }
  const slots = weightSlots(config)
  const expected = new Set(slots.map((s) => `${s.layer}.${s.field}`))
  // A weight the config does not describe would be silently dropped: refuse instead.
  weights.layers.forEach((layer, i) => {
    for (const field of OPTIONAL_LAYER_FIELDS) {
      if (layer[field] !== undefined && !expected.has(`${i}.${field}`)) {
        throw new ModelExportError(file, `layer ${i} ${field}`, `present, but a ${config.hfArchitecture} with this config has no such weight`)
      }
    }
  })
  return slots.map((slot) => {
    const data = weightOf(weights, slot)
    const count = slotSize(slot)
    if (data === undefined) throw new ModelExportError(file, slot.name, 'missing from the weights')
    if (data.length !== count) {
      throw new ModelExportError(file, slot.name, `has ${data.length} values, but [${slot.shape.join(', ')}] from the config needs ${count}`)
    }
    return { slot, tensor: { name: slot.name, shape: slot.shape, data } }
  })
}

/** Each decoder Linear as GPTQ tensors (quantized here, one layer at a time), everything else as it is. */
function gptqTensors(outDir: string, list: { slot: WeightSlot; tensor: FloatTensorToWrite }[], blockSize: UserBlockSize): TensorToWrite[] {
  return list.flatMap(({ slot, tensor }): TensorToWrite[] => {
    if (slot.role !== 'linear') return [tensor]
    const [n, k] = slot.shape as [number, number]
    const module = slot.name.replace(/\.weight$/, '')
    try {
      const quantized = quantizeForPrecision(tensor.data, n, k, { precision: 'int4', blockSize })!
      return toGptqTensors(quantized, module).map((t) => ({ ...t, name: `${module}.${t.suffix}` }) as TensorToWrite)
    } catch (error) {
      if (error instanceof QuantizationError) throw new ModelExportError(join(outDir, 'model.safetensors'), tensor.name, error.message)
      throw error
    }
  })
}

function isEmptyFolder(dir: string): boolean {
  return readdirSync(dir).length === 0
}

/**
 * Writes `model` as a Hugging Face folder at `outDir` and returns what it
 * wrote. Refuses a non-empty outDir unless `overwrite`; on any error nothing
 * is left behind and an existing outDir is unchanged.
 */
export function exportModel(model: LoadedModel | ExportableModel, outDir: string, options: ExportOptions = {}): ExportResult {
  const dtype = options.dtype ?? 'F32'
  const target = resolve(outDir)
  if (existsSync(target)) {
    if (!statSync(target).isDirectory()) throw new ModelExportError(target, undefined, 'exists and is not a folder')
    if (!isEmptyFolder(target) && !options.overwrite) throw new ModelExportError(target, undefined, 'exists and is not empty (pass overwrite to replace it)')
  }
  const tokenizerFrom = options.tokenizerFrom ?? model.dir
  if (options.tokenizerFrom !== undefined && !(existsSync(options.tokenizerFrom) && statSync(options.tokenizerFrom).isDirectory())) {
    throw new ModelExportError(options.tokenizerFrom, undefined, 'tokenizer source is not a folder')
  }
  // Checked before anything is written.
  const checked = tensorsToWrite(target, model.config, model.weights)
  const tensors = options.gptq ? gptqTensors(target, checked, options.gptq.blockSize) : checked.map((c) => c.tensor)
  const configJson = configToJson(model.config, dtype)
  if (options.gptq) configJson.quantization_config = gptqQuantizationConfig(options.gptq.blockSize)
  const sorted = model.sorted === undefined ? undefined : parseSortedMetadata(model.sorted, join(target, SORTED_FILE), model.config.numLayers)

  mkdirSync(dirname(target), { recursive: true })
  const staging = mkdtempSync(join(dirname(target), `.${basename(target)}.export-`))
  try {
    writeFileSync(join(staging, 'config.json'), `${JSON.stringify(configJson, null, 2)}\n`)
    writeSafetensors(join(staging, 'model.safetensors'), tensors, { dtype, metadata: { format: 'pt' } })
    if (tokenizerFrom !== undefined) {
      for (const name of TOKENIZER_FILES) {
        const source = join(tokenizerFrom, name)
        if (existsSync(source)) copyFileSync(source, join(staging, name))
      }
    }
    if (sorted !== undefined) writeFileSync(join(staging, SORTED_FILE), `${JSON.stringify(sorted, null, 2)}\n`)
    const files = readdirSync(staging).sort()
    swapInto(staging, target)
    return { dir: target, files }
  } catch (error) {
    rmSync(staging, { recursive: true, force: true })
    throw error
  }
}

/** Renames `staging` to `target`, moving an existing target aside first and restoring it if the rename fails. */
function swapInto(staging: string, target: string): void {
  if (!existsSync(target)) {
    renameSync(staging, target)
    return
  }
  const aside = `${staging}.old`
  renameSync(target, aside)
  try {
    renameSync(staging, target)
  } catch (error) {
    renameSync(aside, target)
    throw error
  }
  rmSync(aside, { recursive: true, force: true })
}
