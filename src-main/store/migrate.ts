/**
 * Brings a database to the newest schema this build knows, or refuses it.
 *
 * The schema version is SQLite's `PRAGMA user_version`, which lives in the
 * file header and changes inside the same transaction as the migration, so
 * a migration and its version number commit together or not at all.
 */
import type { Database } from 'better-sqlite3'
import { MigrationError, MigrationListError, StoreVersionError } from './errors'
import type { Migration } from './migrations'

/** Throws unless the list is numbered 1, 2, 3… in order with no gaps. */
export function validateMigrations(migrations: readonly Migration[]): void {
  migrations.forEach((migration, index) => {
    if (migration.version !== index + 1) {
      const found = migrations.map((m) => m.version).join(', ')
      throw new MigrationListError(`Migrations must be numbered 1, 2, 3… in order without gaps; found ${found}`)
    }
  })
}

export function readSchemaVersion(db: Database): number {
  return db.pragma('user_version', { simple: true }) as number
}

/**
 * Applies the pending migrations, each in its own transaction, and returns
 * the resulting schema version. Refuses (without writing) a database newer
 * than `migrations` knows, since an older build could corrupt its data.
 *
 * Foreign keys are switched off while migrating, as SQLite's recipe for
 * schema changes requires (rebuilding a parent table would otherwise
 * cascade-delete its children); each migration checks them itself before
 * committing. The connection's setting is restored afterwards.
 */
export function migrate(db: Database, migrations: readonly Migration[], path: string): number {
  validateMigrations(migrations)
  const latest = migrations.length
  const current = readSchemaVersion(db)
  if (current > latest) throw new StoreVersionError(path, current, latest)
  if (current === latest) return current

  // Cannot change inside a transaction; better-sqlite3 turns keys on by default.
  const foreignKeys = db.pragma('foreign_keys', { simple: true }) as number
  db.pragma('foreign_keys = OFF')
  try {
    applyPending(db, migrations.slice(current), path)
  } finally {
    db.pragma(`foreign_keys = ${foreignKeys ? 'ON' : 'OFF'}`)
  }
  return readSchemaVersion(db)
}

function applyPending(db: Database, pending: readonly Migration[], path: string): void {
  for (const migration of pending) {
    const apply = db.transaction(() => {
      // Another process (the CLI beside the app) may have migrated since we read.
      if (readSchemaVersion(db) >= migration.version) return
      db.exec(migration.sql)
      const broken = db.pragma('foreign_key_check') as unknown[]
      if (broken.length > 0) throw new Error(`it would leave ${broken.length} rows pointing at missing rows (foreign key check)`)
      db.pragma(`user_version = ${migration.version}`)
    })
    try {
      // IMMEDIATE takes the write lock before reading the version, so two processes cannot both apply it.
      apply.immediate()
    } catch (error) {
      throw new MigrationError(path, migration.version, migration.name, error)
    }
  }
}
