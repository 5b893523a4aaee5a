/**
 * The evaluation sets shipped with the app (resources/eval), offered on the
 * Batch page so a first evaluation needs no file of one's own. The
 * catalogue names each set once; a set whose file is missing from the
 * shipped folder is simply not offered.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { EvalSetSummary, ReadyMadeSet } from '../../api/contract'
import { ApiError } from '../../api/errors'
import { readEvalSet } from '../../engine/data/eval-set'
import type { Store } from '../../store'
import { importSetFile } from './sets'

interface CatalogueEntry {
  id: string
  /** Relative to the shipped sets folder. */
  file: string
  name: string
  description: string
}

/**
 * PandaLM's 999 human-labelled pairs (pandalm/testset-v1.json) ship too but
 * are not offered: each item already carries both responses, so they test a
 * judge's agreement with people (tests/unit/engine/judge) rather than
 * contenders.
 */
const CATALOGUE: readonly CatalogueEntry[] = [
  {
    id: 'pandalm-inference',
    file: 'pandalm/testset-inference-v1.json',
    name: 'PandaLM inference set',
    description: "PandaLM's 170 instructions (Apache-2.0), the set the SoFT paper judged its sub-models on; no references, so judge it with a PandaLM model.",
  },
  {
    id: 'dictionary-heldout',
    file: 'dictionary-heldout.jsonl',
    name: 'Dictionary held-out definitions',
    description: "WordNet definitions the bundled dictionary model never saw in training, each with WordNet's gloss as the reference.",
  },
]

export class ReadyMadeSets {
  /** `dir` is the shipped sets folder; without one nothing is offered. */
  constructor(private readonly dir: string | undefined) {}

  list(): ReadyMadeSet[] {
    return this.available().map(({ entry, path }) => {
      const { items } = readEvalSet(path)
      return {
        id: entry.id,
        name: entry.name,
        description: entry.description,
        itemCount: items.length,
        withReferences: items.filter((i) => i.reference !== null).length,
      }
    })
  }

  /** Imports the set under its catalogue name; a second import returns the stored set. */
  import(store: Store, id: string): EvalSetSummary {
    const found = this.available().find(({ entry }) => entry.id === id)
    if (!found) throw new ApiError('not_found', `No ready-made evaluation set "${id}".`)
    return importSetFile(store, found.path, found.entry.name)
  }

  private available(): { entry: CatalogueEntry; path: string }[] {
    const dir = this.dir
    if (!dir) return []
    return CATALOGUE.map((entry) => ({ entry, path: join(dir, entry.file) })).filter(({ path }) => existsSync(path))
  }
}
