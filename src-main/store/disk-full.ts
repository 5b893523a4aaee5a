/**
 * Recognises SQLite running out of disk space and reports it as
 * StoreDiskFullError naming the database file, so the UI and the CLI can say
 * what happened instead of "database or disk is full" with no file, or a
 * generic "disk I/O error".
 */
import Database from 'better-sqlite3'
import { MigrationError, StoreDiskFullError } from './errors'

const diskFullCodes = new Set([
  // A write to the database or its WAL found no room (ENOSPC, or a quota).
  'SQLITE_FULL',
  // Growing the WAL index (the -shm file) found no room: opening a WAL
  // database needs it, and SQLite's unix VFS reports that ENOSPC as an I/O error.
  'SQLITE_IOERR_SHMSIZE',
])

export function isDiskFull(error: unknown): boolean {
  if (error instanceof MigrationError) return isDiskFull(error.cause)
  return error instanceof Database.SqliteError && diskFullCodes.has(error.code)
}

/** `error` as StoreDiskFullError when it is one in SQLite's words, else unchanged. */
export function explainDiskFull(error: unknown, path: string): unknown {
  if (error instanceof StoreDiskFullError || !isDiskFull(error)) return error
  return new StoreDiskFullError(path, error)
}

/**
 * Wraps a repository so that every method reports a full disk as
 * StoreDiskFullError. One wrapper at the store's edge instead of a
 * try/catch in each of the repositories' many methods.
 */
export function reportingDiskFull<T extends object>(repository: T, path: string): T {
  return new Proxy(repository, {
    get(target, key) {
      const value: unknown = Reflect.get(target, key, target)
      if (typeof value !== 'function') return value
      // Called on the target itself: the repositories keep their statements in private fields.
      return (...args: unknown[]) => {
        try {
          return (value as (...a: unknown[]) => unknown).apply(target, args)
        } catch (error) {
          throw explainDiskFull(error, path)
        }
      }
    },
  })
}
