/**
 * Model folders in the database: a folder's row, registered on first use
 * from its config.json (runs, generations and comparisons refer to it).
 */
import { readFileSync } from 'node:fs'
import { basename, join, resolve } from 'node:path'
import { parseConfig } from '../engine/model/config'
import type { Store } from '../store'

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
  return store.models.add({ name: basename(folder), architecture, path: folder, source, numLayers }).id
}
