import { ClientError } from './client'

/**
 * One line for the user, naming every offending field. The backend usually
 * names them in its message already; issues it left out are appended, so a
 * field path is never lost and never repeated.
 */
export function errorMessage(error: unknown): string {
  if (error instanceof ClientError) {
    const unnamed = (error.issues ?? []).filter((issue) => !error.message.includes(issue.path))
    if (unnamed.length === 0) return error.message
    return `${error.message} (${unnamed.map((issue) => `${issue.path}: ${issue.message}`).join('; ')})`
  }
  return error instanceof Error ? error.message : String(error)
}
