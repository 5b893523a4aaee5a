/**
 * What an evaluation's answers made with an adapter are keyed by: the
 * adapter's folder, a content hash of the two files that decide the merged
 * weights, and the rank merged. A folder path alone would let a retrained
 * adapter written to the same folder reuse the old adapter's answers; the
 * hash does not. Adapters are small (a few MB to tens of MB), so reading
 * them once per evaluation costs next to nothing beside answering.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, AdapterError } from '../model/peft-adapter'
import type { AdapterIdentity } from './contender'

/** The identity of the adapter in `dir` merged at `rank` of its `r` (as the load applied it). */
export function adapterIdentity(dir: string, rank: number, r: number): AdapterIdentity {
  const hash = createHash('sha256')
  for (const name of [ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE]) {
    const file = join(dir, name)
    let bytes: Buffer
    try {
      bytes = readFileSync(file)
    } catch (error) {
      throw new AdapterError(`${file}: cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`)
    }
    // The length first, so the boundary between the two files is part of what is hashed.
    hash.update(`${name}:${bytes.length}:`).update(bytes)
  }
  return { path: resolve(dir), sha256: hash.digest('hex'), rank, r }
}
