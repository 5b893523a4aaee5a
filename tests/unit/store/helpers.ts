/** Shared set-up for the store tests: temp folders, a controllable clock, small fixtures. */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach } from 'vitest'
import { openStore, type Model, type NewModel, type Store, type StoreOptions } from '../../../src-main/store'

const tempDirs: string[] = []
const openStores: Store[] = []

afterEach(() => {
  for (const store of openStores.splice(0)) store.close()
  for (const dir of tempDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
})

/** A fresh folder, removed after the test. */
export function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sorted-store-'))
  tempDirs.push(dir)
  return dir
}

/** A path for a database file that does not exist yet, in a fresh folder. */
export function tempDbPath(): string {
  return path.join(tempDir(), 'sorted.db')
}

/** A clock the test moves by hand, so timestamps are exact. */
export function manualClock(start = 1_700_000_000_000): { now: () => number; advance: (ms?: number) => number } {
  let time = start
  return { now: () => time, advance: (ms = 1000) => (time += ms) }
}

/** Opens a store that is closed after the test. */
export function open(dbPath: string, options?: StoreOptions): Store {
  const store = openStore(dbPath, options)
  openStores.push(store)
  return store
}

export function memoryStore(options?: StoreOptions): Store {
  return open(':memory:', options)
}

export function addModel(store: Store, overrides: Partial<NewModel> = {}): Model {
  return store.models.add({
    name: 'Tiny Llama',
    architecture: 'llama',
    path: '/models/tiny',
    source: 'imported',
    numLayers: 8,
    exits: [2, 4, 8],
    ...overrides,
  })
}
