import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { resolveStaticFile } from '../../../src-main/server/static'

const root = mkdtempSync(join(tmpdir(), 'static-'))
const site = join(root, 'site')
mkdirSync(join(site, 'assets'), { recursive: true })
writeFileSync(join(site, 'index.html'), '<!doctype html>')
writeFileSync(join(site, 'assets', 'app.js'), '')
writeFileSync(join(root, 'secret.txt'), 'secret')
afterAll(() => rmSync(root, { recursive: true, force: true }))

describe('static files of the built renderer', () => {
  it('serves index.html for / and files inside the folder', () => {
    expect(resolveStaticFile(site, '/')).toBe(join(site, 'index.html'))
    expect(resolveStaticFile(site, '/assets/app.js')).toBe(join(site, 'assets', 'app.js'))
  })

  it('never leaves the folder, however the path is encoded', () => {
    for (const path of ['/../secret.txt', '/%2e%2e/secret.txt', '/assets/..%2f..%2fsecret.txt', '/..\\secret.txt']) {
      expect(resolveStaticFile(site, path)).toBeUndefined()
    }
  })

  it('refuses folders, missing files, bad escapes and NUL bytes', () => {
    expect(resolveStaticFile(site, '/assets')).toBeUndefined()
    expect(resolveStaticFile(site, '/nope.js')).toBeUndefined()
    expect(resolveStaticFile(site, '/%E0%A4%A')).toBeUndefined()
    expect(resolveStaticFile(site, '/index.html%00.js')).toBeUndefined()
  })
})
