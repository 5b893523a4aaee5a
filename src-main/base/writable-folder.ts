/**
 * Base: small Node utilities every layer may use; they import nothing of the app.
 *
 * Checks a folder the user named (`--data-dir`, `--out`, SORTED_STUDIO_HOME)
 * before anything is written there, and creates it when it is missing.
 *
 * Why not `mkdirSync(path, { recursive: true })`: on a path such as
 * /proc/foo it never returns (Node retries `mkdir /proc/foo`, which fails with
 * ENOENT although /proc exists, for ever, at 100% CPU), and for a file where a
 * folder was wanted it says "EEXIST" with a stack trace. This refuses an
 * unusable path at once, with one line naming the flag and the path.
 */
import { randomBytes } from 'node:crypto'
import { closeSync, mkdirSync, openSync, rmdirSync, rmSync, statSync, type Stats } from 'node:fs'
import { dirname, join, resolve } from 'node:path'

/** The folder cannot hold the app's files; the message names the flag, the path and why. */
export class UnusableFolderError extends Error {
  /** The folder that was asked for, absolute. */
  readonly path: string

  constructor(path: string, message: string) {
    super(message)
    this.name = 'UnusableFolderError'
    this.path = path
  }
}

/** Plain words for the errors writing a file or folder meets; others keep Node's wording. */
export const writeErrorReasons: Readonly<Record<string, string>> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is used up',
}

/**
 * Makes sure `path` is a folder this process can write in, creating it and
 * any missing parents, and returns it as an absolute path. `flagName` is how
 * the user named it (`--data-dir`, `SORTED_STUDIO_HOME`), for the message.
 * Throws UnusableFolderError, having created nothing, when it cannot be used.
 * With `keepCreated: false` the levels it made are removed again before it
 * returns: a check for a folder that a later step creates (nothing left
 * behind when that step is refused for another reason).
 */
export function ensureWritableFolder(path: string, flagName: string, { keepCreated = true }: { keepCreated?: boolean } = {}): string {
  const target = resolve(path)
  const named = `${flagName} ${target}`

  // Walk up to the nearest thing that exists; every level below it is to be made.
  const missing: string[] = []
  let existing = target
  let stats = statIfPresent(existing, named)
  while (stats === undefined && dirname(existing) !== existing) {
    missing.unshift(existing)
    existing = dirname(existing)
    stats = statIfPresent(existing, named)
  }
  const subject = existing === target ? named : `${named} cannot be created: ${existing}`
  if (stats !== undefined && !stats.isDirectory()) {
    throw new UnusableFolderError(target, `${subject} ${stats.isFile() ? 'is a file, not a folder' : 'is not a folder'}.`)
  }

  // Only writing proves writable: permissions, read-only mounts and pseudo
  // file systems (/proc, /sys) each refuse in their own way, root included.
  const problem = writeProblem(existing)
  if (problem) throw new UnusableFolderError(target, `${subject} ${problem}.`)

  const made: string[] = []
  try {
    for (const level of missing) {
      try {
        mkdirSync(level)
        made.push(level)
      } catch (error) {
        const { code } = error as NodeJS.ErrnoException
        // Made by someone else in the meantime: fine if it is a folder.
        if (code === 'EEXIST' && statSync(level).isDirectory()) continue
        throw new UnusableFolderError(target, `${named} cannot be created: making ${level} failed: ${describe(error)}.`)
      }
    }
  } catch (error) {
    removeEmptyFolders(made)
    throw error
  }
  if (!keepCreated) removeEmptyFolders(made)
  return target
}

/** Removes folders this check made, deepest first (they are still empty). */
function removeEmptyFolders(made: readonly string[]): void {
  for (const level of [...made].reverse()) rmdirSync(level)
}

/** The entry's stats, or undefined when nothing is there (or a file sits above it). */
function statIfPresent(path: string, named: string): Stats | undefined {
  try {
    return statSync(path)
  } catch (error) {
    const { code } = error as NodeJS.ErrnoException
    // ENOTDIR: a parent is a file; the walk up reaches it and says so.
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined
    throw new UnusableFolderError(resolve(path), `${named} cannot be used: ${path} cannot be read: ${describe(error)}.`)
  }
}

/** Why a file cannot be created in `folder`, or undefined when one can (it is removed again). */
function writeProblem(folder: string): string | undefined {
  const probe = join(folder, `.sorted-write-check-${randomBytes(6).toString('hex')}`)
  try {
    closeSync(openSync(probe, 'wx'))
  } catch (error) {
    // ENOENT for a file in a folder that exists: a pseudo file system such as /proc.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'does not accept new files (ENOENT)'
    return `is not writable: ${describe(error)}`
  }
  rmSync(probe, { force: true })
  return undefined
}

function describe(error: unknown): string {
  const { code, message } = error as NodeJS.ErrnoException
  const reason = code === undefined ? undefined : writeErrorReasons[code]
  // Node's own message already starts with the code.
  return reason === undefined ? message : `${reason} (${code})`
}
