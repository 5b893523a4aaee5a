import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import {
  MigrationError,
  MigrationListError,
  StoreVersionError,
  migrate,
  readSchemaVersion,
  validateMigrations,
  type Migration,
} from '../../../src-main/store'
import { tempDbPath } from './helpers'

const v1: Migration = {
  version: 1,
  name: 'notes',
  sql: 'CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);',
}
const v2: Migration = {
  version: 2,
  name: 'note titles',
  sql: "ALTER TABLE notes ADD COLUMN title TEXT NOT NULL DEFAULT 'untitled';",
}
const failingV2: Migration = {
  version: 2,
  name: 'tags',
  sql: 'CREATE TABLE tags (id INTEGER PRIMARY KEY); INSERT INTO no_such_table VALUES (1);',
}

const connections: Database.Database[] = []
afterEach(() => {
  for (const db of connections.splice(0)) db.close()
})

function connect(path: string): Database.Database {
  const db = new Database(path)
  connections.push(db)
  return db
}

function tableNames(db: Database.Database): string[] {
  return db
    .prepare<[], { name: string }>("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
    .all()
    .map((row) => row.name)
}

/** A database file that an older build (knowing only v1) created and wrote a note into. */
function olderDatabase(): { path: string; db: Database.Database } {
  const path = tempDbPath()
  const db = connect(path)
  migrate(db, [v1], path)
  db.prepare('INSERT INTO notes (body) VALUES (?)').run('keep me')
  return { path, db }
}

describe('migrate', () => {
  it('applies every migration to a new database and records the newest version', () => {
    const path = tempDbPath()
    const db = connect(path)

    expect(migrate(db, [v1, v2], path)).toBe(2)
    expect(readSchemaVersion(db)).toBe(2)
    expect(tableNames(db)).toEqual(['notes'])
  })

  it('migrates an older database forward, keeping its data', () => {
    const { path, db } = olderDatabase()

    expect(migrate(db, [v1, v2], path)).toBe(2)
    expect(db.prepare('SELECT body, title FROM notes').all()).toEqual([{ body: 'keep me', title: 'untitled' }])
  })

  it('does nothing to a database already at the newest version', () => {
    const { path, db } = olderDatabase()

    expect(migrate(db, [v1], path)).toBe(1)
    expect(db.prepare('SELECT body FROM notes').all()).toEqual([{ body: 'keep me' }])
  })

  it('leaves the database exactly as it was when a migration fails: version, tables and rows', () => {
    const { path, db } = olderDatabase()

    expect(() => migrate(db, [v1, failingV2], path)).toThrow(MigrationError)
    expect(readSchemaVersion(db)).toBe(1)
    expect(tableNames(db)).toEqual(['notes'])
    expect(db.prepare('SELECT body FROM notes').all()).toEqual([{ body: 'keep me' }])
  })

  it('names the file and the failing migration in the error', () => {
    const { path, db } = olderDatabase()

    expect(() => migrate(db, [v1, failingV2], path)).toThrow(`Could not upgrade ${path} to schema 2 (tags)`)
  })

  it('rolls back a migration that would leave rows pointing at nothing', () => {
    const { path, db } = olderDatabase()
    const orphaning: Migration = {
      version: 2,
      name: 'authors',
      sql: `CREATE TABLE authors (id INTEGER PRIMARY KEY);
            CREATE TABLE bylines (note_id INTEGER REFERENCES notes (id), author_id INTEGER REFERENCES authors (id));
            INSERT INTO bylines VALUES (1, 42);`,
    }

    expect(() => migrate(db, [v1, orphaning], path)).toThrow(/foreign key/)
    expect(readSchemaVersion(db)).toBe(1)
    expect(tableNames(db)).toEqual(['notes'])
  })

  it('refuses a database newer than the list knows, without changing it', () => {
    const { path, db } = olderDatabase()
    db.pragma('user_version = 5')

    expect(() => migrate(db, [v1, v2], path)).toThrow(StoreVersionError)
    expect(readSchemaVersion(db)).toBe(5)
    expect(db.prepare('SELECT * FROM notes').columns().map((c) => c.name)).toEqual(['id', 'body'])
  })
})

describe('validateMigrations', () => {
  it('accepts a list numbered 1, 2, 3… in order', () => {
    expect(() => validateMigrations([v1, v2])).not.toThrow()
  })

  it('rejects a list with a gap', () => {
    expect(() => validateMigrations([v1, { ...v2, version: 3 }])).toThrow(MigrationListError)
  })

  it('rejects a list that does not start at 1', () => {
    expect(() => validateMigrations([{ ...v1, version: 0 }, { ...v2, version: 1 }])).toThrow(MigrationListError)
  })

  it('rejects a list out of order or with a repeated version', () => {
    expect(() => validateMigrations([v2, v1])).toThrow(MigrationListError)
    expect(() => validateMigrations([v1, { ...v2, version: 1 }])).toThrow(MigrationListError)
  })

  it('names the versions it found', () => {
    expect(() => validateMigrations([v1, { ...v2, version: 3 }])).toThrow('found 1, 3')
  })
})
