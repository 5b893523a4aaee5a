/**
 * Adding fields to a model folder's sorted.json without losing any it has.
 *
 * The file is replaced atomically: the new text goes to a temporary file in
 * the same folder, is flushed to disk, and is renamed over sorted.json, so a
 * reader (or a crash) sees the old file or the new one, never half of one.
 * When anything fails the temporary file is removed and sorted.json is as it
 * was.
 *
 * A folder without sorted.json gets one holding the new fields and `exits`
 * listing every layer count: sorted.json must name its exits
 * (import.ts:parseSortedMetadata), and every layer count is what a model
 * without the file offers anyway.
 */
import { writeErrorReasons } from '../../base/writable-folder'
import { randomBytes } from 'node:crypto'
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { jsonSyntaxProblem } from '../data/json-syntax'
import { ModelImportError, parseSortedMetadata, SORTED_FILE } from './import'

/** sorted.json could not be written; the file is unchanged. */
export class SortedFileWriteError extends Error {
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(`${file} cannot be written: ${reason}; it was left as it was.`)
    this.name = 'SortedFileWriteError'
  }
}

/** Plain words for the errors writing meets; others keep Node's code or message. */
const reasons: Record<string, string> = { ...writeErrorReasons, ENOENT: 'the folder does not exist' }

function describe(error: unknown): string {
  const { code, message } = error as NodeJS.ErrnoException
  if (code === undefined) return message
  return reasons[code] === undefined ? code : `${reasons[code]} (${code})`
}

/**
 * sorted.json of `dir` as an object, checked against a model of `numLayers`
 * layers; undefined when there is none. ModelImportError naming the file
 * when it is not valid JSON or not valid sorted metadata.
 */
export function readSortedFile(dir: string, numLayers: number): Record<string, unknown> | undefined {
  const file = join(dir, SORTED_FILE)
  if (!existsSync(file)) return undefined
  let json: unknown
  try {
    json = JSON.parse(readFileSync(file, 'utf8'))
  } catch (error) {
    if (error instanceof SyntaxError) throw new ModelImportError(file, undefined, `is not valid JSON (${jsonSyntaxProblem(error).description})`)
    throw new ModelImportError(file, undefined, `cannot be read: ${describe(error)}`)
  }
  parseSortedMetadata(json, file, numLayers)
  return json as Record<string, unknown>
}

/**
 * Sets `fields` in `dir`/sorted.json (replacing those of the same name,
 * keeping every other field and their order) and returns the file's path.
 * ModelImportError when the existing file is invalid or the result would be;
 * SortedFileWriteError when the folder takes no new file.
 */
export function updateSortedFile(dir: string, numLayers: number, fields: Record<string, unknown>): string {
  const file = join(dir, SORTED_FILE)
  const current = readSortedFile(dir, numLayers) ?? { exits: Array.from({ length: numLayers }, (_, i) => i + 1) }
  const next = { ...current, ...fields }
  parseSortedMetadata(next, file, numLayers)
  const temporary = join(dir, `.${SORTED_FILE}.${randomBytes(6).toString('hex')}.tmp`)
  try {
    const fd = openSync(temporary, 'wx')
    try {
      writeSync(fd, `${JSON.stringify(next, null, 2)}\n`)
      // On disk before the rename: a crash right after it must not leave an empty sorted.json.
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(temporary, file)
  } catch (error) {
    rmSync(temporary, { force: true })
    throw new SortedFileWriteError(file, describe(error))
  }
  return file
}
