/** A model folder's shape (layers, exits) read from its config without loading weights, for pickers and request checks. */
import { basename, resolve } from 'node:path'
import type { ModelFolderShape } from '../api/contract'
import { ApiError } from '../api/errors'
import { ConfigError } from '../engine/model/config'
import { inspectModelFolder, ModelImportError } from '../engine/model/import'

export function inspectModel(path: string, field = 'path'): ModelFolderShape {
  const dir = resolve(path)
  try {
    const { config, sorted } = inspectModelFolder(dir)
    const numLayers = config.numLayers
    return {
      path: dir,
      name: basename(dir),
      architecture: config.hfArchitecture,
      numLayers,
      exits: sorted?.exits ?? Array.from({ length: numLayers }, (_, i) => i + 1),
    }
  } catch (error) {
    if (error instanceof ModelImportError || error instanceof ConfigError) {
      throw new ApiError('invalid_params', error.message, [{ path: field, message: error.message }])
    }
    throw error
  }
}
