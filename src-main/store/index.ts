/**
 * The app's SQLite database: opening it (pragmas, migrations) and the
 * repositories services use. Services never see SQL; they call intention-
 * named methods on `store.runs`, `store.chats`, …
 */
import Database from 'better-sqlite3'
import { ChatsRepository } from './chats'
import type { Clock } from './clock'
import { DatasetsRepository } from './datasets'
import { explainDiskFull, isDiskFull, reportingDiskFull } from './disk-full'
import { StoreFileError, StoreOpenError } from './errors'
import { EvalRepository } from './evals'
import { migrate, validateMigrations } from './migrate'
import { migrations as knownMigrations, type Migration } from './migrations'
import { ModelsRepository } from './models'
import { RunsRepository } from './runs'
import { SettingsRepository } from './settings'

export interface StoreOptions {
  /** The schema to reach; defaults to this build's migrations. Tests pass synthetic lists. */
  migrations?: readonly Migration[]
  /** Unix milliseconds for `*_at` columns; defaults to Date.now. */
  now?: Clock
  /**
   * Path of a better-sqlite3 addon built for another ABI: the Electron app
   * passes one built for Electron, leaving the Node build for the CLI and tests.
   */
  nativeBinding?: string
}

export interface Store {
  readonly path: string
  /** The schema version the database is at (the newest migration applied). */
  readonly schemaVersion: number
  readonly settings: SettingsRepository
  readonly models: ModelsRepository
  readonly datasets: DatasetsRepository
  readonly runs: RunsRepository
  readonly chats: ChatsRepository
  readonly evals: EvalRepository
  /**
   * Runs `work` in one transaction across repositories (e.g. finish a run
   * and register its output model): all of it commits or none. Repository
   * methods that are transactions themselves nest inside it.
   */
  transaction<T>(work: () => T): T
  close(): void
}

/** How long a write waits for another connection (the CLI beside the app) before failing. */
const busyTimeoutMs = 5000

/**
 * Opens (creating if needed) the database at `path`, or ':memory:', and
 * brings it to the newest schema. Throws `StoreVersionError`, leaving the
 * file untouched, when it was written by a newer build, and
 * `StoreDiskFullError` when the disk has no room for it. Every repository
 * method reports a full disk as `StoreDiskFullError` too.
 */
export function openStore(path: string, options: StoreOptions = {}): Store {
  const migrations = options.migrations ?? knownMigrations
  // A bad list is a programming error: fail before creating or touching any file.
  validateMigrations(migrations)
  const now = options.now ?? Date.now

  const db = openDatabase(path, options.nativeBinding)
  try {
    db.pragma(`busy_timeout = ${busyTimeoutMs}`)
    const schemaVersion = migrateOrExplain(db, migrations, path)
    // Only after the version check: switching to WAL rewrites the file header,
    // and a database from a newer build must be left exactly as it was.
    if (!db.memory) db.pragma('journal_mode = WAL')
    // NORMAL is durable across application crashes in WAL mode, and much faster than FULL.
    db.pragma('synchronous = NORMAL')
    db.pragma('foreign_keys = ON')

    const guarded = <T extends object>(repository: T): T => reportingDiskFull(repository, path)
    return {
      path,
      schemaVersion,
      settings: guarded(new SettingsRepository(db, now)),
      models: guarded(new ModelsRepository(db, now)),
      datasets: guarded(new DatasetsRepository(db, now)),
      runs: guarded(new RunsRepository(db, now)),
      chats: guarded(new ChatsRepository(db, now)),
      evals: guarded(new EvalRepository(db, now)),
      transaction: <T>(work: () => T): T => {
        try {
          return db.transaction(work)()
        } catch (error) {
          throw explainDiskFull(error, path)
        }
      },
      close: () => {
        if (!db.open) return
        try {
          // Keeps the query planner's statistics fresh; cheap when nothing changed.
          // Only an optimisation: on a full disk it fails, and the file must still be closed.
          db.pragma('optimize')
        } catch (error) {
          if (!isDiskFull(error)) throw error
        } finally {
          // Folds the WAL into the database file when it can; when that fails
          // for lack of space the WAL stays beside it and the next open reads it.
          db.close()
        }
      },
    }
  } catch (error) {
    db.close()
    throw explainDiskFull(error, path)
  }
}

function openDatabase(path: string, nativeBinding: string | undefined): Database.Database {
  try {
    return new Database(path, nativeBinding ? { nativeBinding } : {})
  } catch (error) {
    // SQLite's own message ("unable to open database file") does not say which file.
    if (error instanceof Database.SqliteError) throw new StoreOpenError(path, error)
    throw error
  }
}

function migrateOrExplain(db: Database.Database, migrations: readonly Migration[], path: string): number {
  try {
    return migrate(db, migrations, path)
  } catch (error) {
    // The first read of the header is where a file that is not a database shows itself.
    if (error instanceof Database.SqliteError && (error.code === 'SQLITE_NOTADB' || error.code === 'SQLITE_CORRUPT')) {
      throw new StoreFileError(path, error)
    }
    throw error
  }
}

export { migrations } from './migrations'
export type { Migration } from './migrations'
export { migrate, readSchemaVersion, validateMigrations } from './migrate'
export * from './errors'
export type { Clock } from './clock'
export type { JsonObject } from './json'
export * from './settings'
export * from './models'
export * from './datasets'
export * from './runs'
export * from './chats'
export * from './evals'
