import fs from 'node:fs'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import {
  MigrationListError,
  StoreFileError,
  StoreOpenError,
  StoreVersionError,
  migrations,
  openStore,
  type Migration,
} from '../../../src-main/store'
import { addModel, memoryStore, open, tempDbPath } from './helpers'

const latest = migrations.length

/** Reads a pragma through a second connection, as another process would see the file. */
function pragmaOf(path: string, pragma: string): unknown {
  const db = new Database(path, { readonly: true })
  try {
    return db.pragma(pragma, { simple: true })
  } finally {
    db.close()
  }
}

/** A database file as a newer build (schema 7) would leave it: WAL mode, with data. */
function newerDatabase(path: string): void {
  const db = new Database(path)
  db.pragma('journal_mode = WAL')
  db.exec("CREATE TABLE future (x TEXT); INSERT INTO future VALUES ('precious')")
  db.pragma('user_version = 7')
  db.close()
}

describe('openStore', () => {
  it('brings a new database file to the newest schema', () => {
    const path = tempDbPath()
    const store = open(path)

    expect(store.schemaVersion).toBe(latest)
    expect(store.path).toBe(path)
    expect(pragmaOf(path, 'user_version')).toBe(latest)
  })

  it('opens an in-memory database at the newest schema', () => {
    expect(memoryStore().schemaVersion).toBe(latest)
  })

  it('puts a file database in WAL mode', () => {
    const path = tempDbPath()
    open(path)

    expect(pragmaOf(path, 'journal_mode')).toBe('wal')
  })

  it('enforces foreign keys', () => {
    const store = memoryStore()

    expect(() => store.runs.create({ modelId: 'no-such-model', mode: 'soft', config: {}, totalSteps: 10 })).toThrow(
      /FOREIGN KEY/,
    )
  })

  it('migrates a database written by an older build, keeping its data', () => {
    const path = tempDbPath()
    const older = openStore(path, { migrations: [...migrations] })
    const chat = older.chats.create({ title: 'Kept across upgrades' })
    older.close()
    const pinned: Migration = {
      version: latest + 1,
      name: 'pinned chats',
      sql: 'ALTER TABLE chats ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;',
    }

    const newer = open(path, { migrations: [...migrations, pinned] })

    expect(newer.schemaVersion).toBe(latest + 1)
    expect(newer.chats.get(chat.id)?.title).toBe('Kept across upgrades')
  })

  it('refuses a database written by a newer build, naming the file and both schema versions', () => {
    const path = tempDbPath()
    newerDatabase(path)

    expect(() => openStore(path)).toThrow(
      `${path} was written by a newer version of Sorted Studio (schema 7; this build knows up to ${latest}). ` +
        'Update Sorted Studio or choose another data folder.',
    )
    expect(() => openStore(path)).toThrow(StoreVersionError)
  })

  it('leaves a refused database file byte for byte as it was', () => {
    const path = tempDbPath()
    newerDatabase(path)
    const before = fs.readFileSync(path)

    expect(() => openStore(path)).toThrow(StoreVersionError)
    expect(fs.readFileSync(path).equals(before)).toBe(true)
    expect(pragmaOf(path, 'user_version')).toBe(7)
  })

  it('rejects a migration list with a gap before creating any file', () => {
    const path = tempDbPath()
    const [initial] = migrations
    const gappy: Migration[] = [initial!, { version: 3, name: 'skips two', sql: 'SELECT 1;' }]

    expect(() => openStore(path, { migrations: gappy })).toThrow(MigrationListError)
    expect(fs.existsSync(path)).toBe(false)
  })

  it('reports a file that is not a database by its path', () => {
    const path = tempDbPath()
    fs.writeFileSync(path, 'these are not the bytes of a SQLite database, but long enough to look like a header')

    expect(() => openStore(path)).toThrow(StoreFileError)
    expect(() => openStore(path)).toThrow(path)
  })

  it('names the file SQLite cannot open at all (a folder in its place)', () => {
    const path = tempDbPath()
    fs.mkdirSync(path)

    expect(() => openStore(path)).toThrow(StoreOpenError)
    expect(() => openStore(path)).toThrow(`Cannot open the database ${path}: `)
  })

  it('keeps data written before close when the same file is reopened', () => {
    const path = tempDbPath()
    const first = openStore(path)
    const model = addModel(first)
    first.close()

    expect(open(path).models.get(model.id)).toEqual(model)
  })

  it('writes nothing from a cross-repository transaction that throws', () => {
    const store = memoryStore()

    expect(() =>
      store.transaction(() => {
        addModel(store, { id: 'half-done' })
        store.settings.set('theme', 'dark')
        throw new Error('interrupted')
      }),
    ).toThrow('interrupted')
    expect(store.models.list()).toEqual([])
    expect(store.settings.all()).toEqual({})
  })
})
