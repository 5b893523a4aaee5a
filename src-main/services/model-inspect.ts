/**
 * A model folder's shape for the tuning wizard (layers for the exit strip,
 * sizes for the estimate, whether it can format text), read from its small
 * files: the weights are not loaded.
 */
import { existsSync, readFileSync } from 'node:fs'
import { basename, join, resolve } from 'node:path'
import type { ModelInspection } from '../api/contract'
import { ApiError } from '../api/errors'
import { parseSortedMetadata } from '../engine/model/import'
import type { ModelConfig } from '../engine/model/types'
import { CHAT_TEMPLATE_FILE, TOKENIZER_FILE, readTokenizerConfig } from '../engine/tokenizer/files'
import { PreviewInputError, readModelConfig } from '../engine/train/dataset-preview'
import { modelShape } from '../engine/train/estimate'

/** config.json of the folder, or an invalid_params error naming `field`. */
export function modelConfigOf(path: string, field = 'modelPath'): ModelConfig {
  try {
    return readModelConfig(path)
  } catch (error) {
    const message = error instanceof PreviewInputError ? error.message : String(error)
    throw new ApiError('invalid_params', `${field}: ${message}`, [{ path: field, message }])
  }
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

function sortedExits(folder: string, numLayers: number): number[] {
  const file = join(folder, 'sorted.json')
  if (!existsSync(file)) return []
  try {
    return parseSortedMetadata(JSON.parse(readFileSync(file, 'utf8')), file, numLayers).exits
  } catch {
    // A broken sorted.json does not stop tuning: the model is tuned as a plain one.
    return []
  }
}

export function inspectModel(path: string): ModelInspection {
  const folder = resolve(path)
  const config = modelConfigOf(folder, 'path')
  return {
    path: folder,
    name: basename(folder),
    architecture: config.architecture,
    numLayers: config.numLayers,
    hiddenSize: config.hiddenSize,
    numHeads: config.numHeads,
    vocabSize: config.vocabSize,
    parameters: modelShape(config).parameters,
    hasTokenizer: existsSync(join(folder, TOKENIZER_FILE)),
    hasChatTemplate: hasChatTemplate(folder),
    exits: sortedExits(folder, config.numLayers),
  }
}
