/**
 * Model folders in the database: a folder's row, registered on first use
 * from its config.json, with its exits and per-exit results from sorted.json
 * when it has one (runs, generations and comparisons refer to it).
 */
import { existsSync, readFileSync } from 'node:fs'
import { basename, join, resolve } from 'node:path'
import { parseConfig } from '../engine/model/config'
import { parseSortedMetadata } from '../engine/model/import'
import type { SortedMetadata } from '../engine/model/types'
import type { Store } from '../store'

function sortedMetadataOf(folder: string, numLayers: number): SortedMetadata | undefined {
  const file = join(folder, 'sorted.json')
  if (!existsSync(file)) return undefined
  try {
    return parseSortedMetadata(JSON.parse(readFileSync(file, 'utf8')), file, numLayers)
  } catch {
    return undefined
  }
}

export function registerModelFolder(store: Store, path: string, source: 'imported' | 'trained'): string {
  const folder = resolve(path)
  const known = store.models.list().find((m) => m.path === folder)
  if (known) return known.id
  let architecture = 'unknown'
  let numLayers = 1
  try {
    const file = join(folder, 'config.json')
    const config = parseConfig(JSON.parse(readFileSync(file, 'utf8')), file)
    architecture = config.hfArchitecture
    numLayers = config.numLayers
  } catch {
    // An unreadable folder fails where it is used, with the full explanation.
  }
  const sorted = sortedMetadataOf(folder, numLayers)
  return store.models.add({ name: basename(folder), architecture, path: folder, source, numLayers, ...(sorted ? { exits: sorted.exits, results: sorted.results } : {}) }).id
}
