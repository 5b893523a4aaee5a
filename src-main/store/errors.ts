/**
 * Errors the store throws on purpose. Services map them to API errors
 * (`StoreVersionError` to a startup dialog, `NotFoundError` to `not_found`,
 * `RunStateError` to `conflict`, `StoreDiskFullError` to `disk_full`); the
 * CLI prints the file errors as one line. Anything else from SQLite is a bug
 * or a constraint the caller broke.
 */

/** The database was written by a newer build; opening it would risk the user's data. */
export class StoreVersionError extends Error {
  readonly path: string
  readonly databaseVersion: number
  readonly supportedVersion: number

  constructor(path: string, databaseVersion: number, supportedVersion: number) {
    super(
      `${path} was written by a newer version of Sorted Studio (schema ${databaseVersion}; ` +
        `this build knows up to ${supportedVersion}). Update Sorted Studio or choose another data folder.`,
    )
    this.name = 'StoreVersionError'
    this.path = path
    this.databaseVersion = databaseVersion
    this.supportedVersion = supportedVersion
  }
}

/** The file exists but is not a SQLite database (or is damaged beyond opening). */
export class StoreFileError extends Error {
  readonly path: string

  constructor(path: string, cause: unknown) {
    super(`${path} is not a Sorted Studio database or is damaged (${cause instanceof Error ? cause.message : String(cause)}).`, {
      cause,
    })
    this.name = 'StoreFileError'
    this.path = path
  }
}

/** SQLite could not open the file at all (a folder where the file should be, no permission). */
export class StoreOpenError extends Error {
  readonly path: string

  constructor(path: string, cause: unknown) {
    super(`Cannot open the database ${path}: ${cause instanceof Error ? cause.message : String(cause)}.`, { cause })
    this.name = 'StoreOpenError'
    this.path = path
  }
}

/** The migration list itself is wrong: a programming error caught before touching any file. */
export class MigrationListError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'MigrationListError'
  }
}

/** One migration failed; it was rolled back and the database is as it was before it. */
export class MigrationError extends Error {
  readonly version: number

  constructor(path: string, version: number, name: string, cause: unknown) {
    super(
      `Could not upgrade ${path} to schema ${version} (${name}): ${cause instanceof Error ? cause.message : String(cause)}. ` +
        `The database was left at its previous schema.`,
      { cause },
    )
    this.name = 'MigrationError'
    this.version = version
  }
}

/** An update named a record that does not exist. */
export class NotFoundError extends Error {
  readonly kind: string
  readonly id: string

  constructor(kind: string, id: string) {
    super(`No ${kind} with id ${id}`)
    this.name = 'NotFoundError'
    this.kind = kind
    this.id = id
  }
}

/** A run was asked to move to a state its current state does not allow (e.g. finish a cancelled run). */
export class RunStateError extends Error {
  readonly runId: string
  readonly status: string

  constructor(runId: string, action: string, status: string) {
    super(`Run ${runId} cannot ${action}: it is ${status}`)
    this.name = 'RunStateError'
    this.runId = runId
    this.status = status
  }
}

/**
 * The disk holding the database is full, so a write (or opening the file,
 * which needs room for its WAL) failed. SQLite rolled the change back: the
 * file holds what it held before, and the same write can be retried once
 * space is freed.
 */
export class StoreDiskFullError extends Error {
  readonly path: string

  constructor(path: string, cause: unknown) {
    super(`Could not save to ${path}: the disk is full. Nothing was written; free some space and try again.`, { cause })
    this.name = 'StoreDiskFullError'
    this.path = path
  }
}
