/**
 * A full disk is the user's situation, not a bug in the backend: the UI gets
 * a `disk_full` error saying which file could not be written, and nothing is
 * logged as a failure.
 */
import { ApiError } from '../api/errors'
import type { ExplainError } from '../api/dispatch'
import { StoreDiskFullError } from '../store'

export const explainDiskFull: ExplainError = (error) => {
  // The store's own error already names the database file and says nothing was saved.
  if (error instanceof StoreDiskFullError) return new ApiError('disk_full', error.message)
  if (typeof error !== 'object' || error === null) return undefined
  const { code, path } = error as NodeJS.ErrnoException
  if (code === 'ENOSPC') {
    const what = path ? `could not write ${path}` : 'a file could not be written'
    return new ApiError('disk_full', `The disk is full: ${what}. Free some space and try again.`)
  }
  return undefined
}
