import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { repoRoot } from './harness'

const built = (path: string) => readFileSync(join(repoRoot, 'out', path), 'utf8')

describe('the build', () => {
  it('gives the sandboxed preload nothing to load but electron', () => {
    // A sandboxed preload cannot require npm packages; one stray import breaks the window.
    const required = [...built('preload/preload.cjs').matchAll(/require\(["']([^"']+)["']\)/g)].map((m) => m[1])
    expect(required).toEqual(['electron'])
  })

  it('puts a strict Content Security Policy in the page the Electron window loads', () => {
    const html = built('renderer/index.html').replaceAll('&#39;', "'")
    const policy = html.match(/http-equiv="Content-Security-Policy" content="([^"]+)"/)?.[1] ?? ''
    expect(policy).toContain("script-src 'self'")
    expect(policy).toContain("style-src 'self'")
    expect(policy).not.toContain('unsafe')
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/)
  })
})
