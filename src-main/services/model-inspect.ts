/**
 * A model folder's shape read from its small files without loading weights:
 * layers and exits for pickers and request checks, sizes for the tuning
 * estimate, and whether it can format text (tokenizer, chat template).
 *
 * This runs on the server's main thread, so it reads only what is small and
 * checked before use: config.json (whose sizes parseConfig bounds) and the
 * weight files' headers (checked against it), never a tensor.
 */
import { existsSync } from 'node:fs'
import { basename, join, resolve } from 'node:path'
import type { ModelFolderShape } from '../api/contract'
import { ApiError } from '../api/errors'
import { ConfigError } from '../engine/model/config'
import { inspectModelFolder, ModelImportError } from '../engine/model/import'
import { PrequantizedConfigError } from '../engine/model/quant/prequantized-config'
import { SafetensorsError } from '../engine/model/safetensors'
import type { ModelConfig, SortedMetadata } from '../engine/model/types'
import { CHAT_TEMPLATE_FILE, TOKENIZER_FILE, readTokenizerConfig } from '../engine/tokenizer/files'
import { modelShape } from '../engine/train/estimate'
import { precisionEstimates } from './precision-estimates'

/** The folder's checked config and sorted metadata, or an invalid_params error naming `field`. */
function inspectOrRefuse(dir: string, field: string): { config: ModelConfig; sorted: SortedMetadata | undefined } {
  try {
    return inspectModelFolder(dir)
  } catch (error) {
    if (error instanceof ModelImportError || error instanceof ConfigError || error instanceof SafetensorsError || error instanceof PrequantizedConfigError) {
      throw new ApiError('invalid_params', `${field}: ${error.message}`, [{ path: field, message: error.message }])
    }
    throw error
  }
}

/** config.json of the folder (checked against its weights), or an invalid_params error naming `field`. */
export function modelConfigOf(path: string, field = 'modelPath'): ModelConfig {
  return inspectOrRefuse(resolve(path), field).config
}

function hasChatTemplate(folder: string): boolean {
  if (existsSync(join(folder, CHAT_TEMPLATE_FILE))) return true
  try {
    const template = readTokenizerConfig(folder)?.chat_template
    return template !== undefined && template !== null
  } catch {
    return false
  }
}

export function inspectModel(path: string, field = 'path'): ModelFolderShape {
  const dir = resolve(path)
  const { config, sorted } = inspectOrRefuse(dir, field)
  const numLayers = config.numLayers
  return {
    path: dir,
    name: basename(dir),
    architecture: config.hfArchitecture,
    numLayers,
    exits: sorted?.exits ?? Array.from({ length: numLayers }, (_, i) => i + 1),
    hiddenSize: config.hiddenSize,
    numHeads: config.numHeads,
    vocabSize: config.vocabSize,
    parameters: modelShape(config).parameters,
    hasTokenizer: existsSync(join(dir, TOKENIZER_FILE)),
    hasChatTemplate: hasChatTemplate(dir),
    precisions: precisionEstimates(config),
  }
}
