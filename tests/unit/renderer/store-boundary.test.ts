/**
 * Only stores talk to the backend: views, components and composables call
 * store actions, so each concept's calls, events and error policy live in
 * the one store that owns it. main.ts wires the client in.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'

const root = join(import.meta.dirname, '../../../src-renderer/src')
const allowed = ['api/', 'stores/', 'main.ts']

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return sources(path)
    return /\.(ts|vue)$/.test(entry.name) ? [path] : []
  })
}

describe('renderer boundary', () => {
  it('keeps the API client out of views, components and composables', () => {
    const offenders = sources(root)
      .map((path) => relative(root, path).split('\\').join('/'))
      .filter((file) => !allowed.some((prefix) => file.startsWith(prefix)))
      .filter((file) => /from '(\.\.?\/)+api\/(use-api|client)'/.test(readFileSync(join(root, file), 'utf8')))
    expect(offenders).toEqual([])
  })
})
