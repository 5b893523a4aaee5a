/**
 * Model folders in the database: a folder's row, registered on first use
 * from its config.json and sorted.json (runs, generations, comparisons and
 * chats refer to it).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { basename, join, resolve } from 'node:path'
import { parseConfig } from '../engine/model/config'
import { parseSortedMetadata } from '../engine/model/import'
import { readAdapterSettings } from '../engine/model/peft-adapter'
import type { ContenderAtExit } from '../engine/judge/contender'
import type { JsonObject, Model, ModelSource, NewModel, Store, StoredContender } from '../store'

/** What the library records of a folder, from its small metadata files only (no weights read). */
export function describeModelFolder(path: string, source: ModelSource): NewModel {
  const folder = resolve(path)
  const configFile = join(folder, 'config.json')
  const config = parseConfig(JSON.parse(readFileSync(configFile, 'utf8')), configFile)
  const sortedFile = join(folder, 'sorted.json')
  const sorted = existsSync(sortedFile) ? parseSortedMetadata(JSON.parse(readFileSync(sortedFile, 'utf8')), sortedFile, config.numLayers) : undefined
  return {
    name: basename(folder),
    architecture: config.hfArchitecture,
    path: folder,
    source,
    numLayers: config.numLayers,
    exits: sorted?.exits ?? [],
    results: (sorted?.results ?? {}) as JsonObject,
  }
}

export function registerModelFolder(store: Store, path: string, source: 'imported' | 'trained'): string {
  const folder = resolve(path)
  const known = store.models.list().find((m) => m.path === folder)
  if (known) return known.id
  let model: NewModel = { name: basename(folder), architecture: 'unknown', path: folder, source, numLayers: 1 }
  try {
    model = describeModelFolder(folder, source)
  } catch {
    // An unreadable folder fails where it is used, with the full explanation.
  }
  return store.models.add(model).id
}

/**
 * Records a PEFT adapter folder under its base model (once: a folder already
 * listed keeps its row). Its layers and exits are the base's; its settings
 * come from adapter_config.json and sorted.json. Whether the adapter fits the
 * base is checked by loading them (the caller's job).
 */
export function registerAdapterFolder(store: Store, path: string, baseModelId: string, source: 'imported' | 'trained'): Model {
  const folder = resolve(path)
  const known = store.models.list().find((m) => m.path === folder)
  if (known) return known
  const base = store.models.get(baseModelId)
  if (!base) throw new Error(`No model ${baseModelId} in the library to list the adapter ${folder} under.`)
  return store.models.add({
    name: basename(folder),
    architecture: base.architecture,
    path: folder,
    source,
    numLayers: base.numLayers,
    exits: base.exits,
    baseModelId,
    adapter: { ...readAdapterSettings(folder) },
  })
}

/** Bytes of the files directly in a model folder (HF folders are flat). */
export function folderSize(path: string): number {
  try {
    return readdirSync(path, { withFileTypes: true })
      .filter((entry) => entry.isFile())
      .reduce((total, entry) => total + statSync(join(path, entry.name)).size, 0)
  } catch {
    return 0
  }
}

/** A contender as stored: its model folder registered (on first use) as a model, at the same exit. */
export function storedContender(store: Store, contender: ContenderAtExit): StoredContender {
  return { modelId: registerModelFolder(store, contender.modelPath, 'imported'), exit: contender.exit }
}
