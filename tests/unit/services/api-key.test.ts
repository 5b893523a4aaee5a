import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { apiKeyPath, checkApiKey, readOrCreateApiKey, regenerateApiKey } from '../../../src-main/services/api-key'

const root = mkdtempSync(join(tmpdir(), 'api-key-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))
const mode = (file: string) => statSync(file).mode & 0o777

describe.skipIf(process.platform === 'win32')('the API key file', () => {
  it('is made once, readable by its owner only, and read back the same', () => {
    const dir = mkdtempSync(join(root, 'a-'))
    const key = readOrCreateApiKey(dir)
    expect(checkApiKey(key)).toBeUndefined()
    expect(mode(apiKeyPath(dir))).toBe(0o600)
    expect(readOrCreateApiKey(dir)).toBe(key)
  })

  it('narrows a key file others could read to 0600, saying so', () => {
    const dir = mkdtempSync(join(root, 'b-'))
    writeFileSync(apiKeyPath(dir), 'sk-hand-written-key\n')
    chmodSync(apiKeyPath(dir), 0o644)
    const warnings: string[] = []
    expect(readOrCreateApiKey(dir, (m) => warnings.push(m))).toBe('sk-hand-written-key')
    expect(mode(apiKeyPath(dir))).toBe(0o600)
    expect(warnings[0]).toContain('readable by its owner only')
  })

  it('replaces a file that holds no valid key, and regenerating gives a new key, still 0600', () => {
    const dir = mkdtempSync(join(root, 'c-'))
    writeFileSync(apiKeyPath(dir), 'short', { mode: 0o600 })
    const first = readOrCreateApiKey(dir)
    expect(first).not.toBe('short')
    const second = regenerateApiKey(dir)
    expect(second).not.toBe(first)
    expect(readFileSync(apiKeyPath(dir), 'utf8').trim()).toBe(second)
    expect(mode(apiKeyPath(dir))).toBe(0o600)
  })

  it('names what is wrong with a key', () => {
    expect(checkApiKey('short')).toContain('at least 8')
    expect(checkApiKey('has a space in it')).toContain('without spaces')
  })
})
