/**
 * The OpenAI-compatible API's key: generated once, kept in the data folder as
 * `api-key`, readable by its owner only (0600), and regenerable. It is not the
 * browser-mode page's per-launch token (server/security.ts): that one never
 * leaves the launching process, this one is given to other programs.
 *
 * Written to a temporary file created 0600 and renamed into place, so the key
 * is never readable by others, not even for a moment, and a crash leaves the
 * old key or the new one, never half of one.
 */
import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export const apiKeyFileName = 'api-key'

/** What a key may look like: 8 to 200 printable characters without spaces, so it fits an Authorization header. */
export function checkApiKey(key: string): string | undefined {
  if (key.length < 8) return 'must be at least 8 characters'
  if (key.length > 200) return 'must be at most 200 characters'
  if (!/^[\x21-\x7e]+$/.test(key)) return 'may hold printable ASCII characters only, without spaces'
  return undefined
}

/** `sk-sorted-` and 32 random bytes, base64url. */
export function newApiKey(): string {
  return `sk-sorted-${randomBytes(32).toString('base64url')}`
}

export function apiKeyPath(dataDir: string): string {
  return join(dataDir, apiKeyFileName)
}

function writeKey(file: string, key: string): void {
  const temporary = `${file}.${process.pid}.tmp`
  try {
    rmSync(temporary, { force: true })
    writeFileSync(temporary, `${key}\n`, { mode: 0o600, flag: 'wx' })
    renameSync(temporary, file)
  } catch (error) {
    rmSync(temporary, { force: true })
    throw error
  }
}

/**
 * The stored key, made (and stored) on first use. A file others could read is
 * narrowed to 0600 first; a file that holds no valid key is replaced.
 */
export function readOrCreateApiKey(dataDir: string, warn: (message: string) => void = () => {}): string {
  const file = apiKeyPath(dataDir)
  if (existsSync(file)) {
    if (process.platform !== 'win32' && (statSync(file).mode & 0o077) !== 0) {
      chmodSync(file, 0o600)
      warn(`${file} was readable by other users; it is now readable by its owner only.`)
    }
    const stored = readFileSync(file, 'utf8').trim()
    if (checkApiKey(stored) === undefined) return stored
    warn(`${file} holds no valid API key; a new one replaces it.`)
  }
  const key = newApiKey()
  writeKey(file, key)
  return key
}

/** Replaces the stored key with a new one; clients holding the old key are refused from now on. */
export function regenerateApiKey(dataDir: string): string {
  const key = newApiKey()
  writeKey(apiKeyPath(dataDir), key)
  return key
}
