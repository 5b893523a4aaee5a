import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { finish, runCli, serve } from './harness'
import WebSocket from 'ws'

const dataRoot = mkdtempSync(join(tmpdir(), 'sorted-cli-'))
afterAll(() => rmSync(dataRoot, { recursive: true, force: true }))


describe('sorted CLI', () => {
  it('lists its commands with --help', async () => {
    const result = await finish(['--help'])
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(/^\s+serve\s+Serve the app/m)
  })

  it('rejects a bad port with a message naming the option', async () => {
    const result = await finish(['serve', '--port', 'eighty'])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('--port must be a whole number')
  })

  it('names an unknown command', async () => {
    const result = await finish(['frobnicate'])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('unknown command "frobnicate"')
  })

  it('serve prints exactly one line with the tokened URL, serves it, and stops cleanly', async () => {
    const dataDir = join(dataRoot, 'a')
    const app = await serve(dataDir)
    const page = await fetch(app.url)
    expect(page.status).toBe(200)
    expect(await page.text()).toContain('<div id="app">')
    // The page is public (it holds no secret); the API socket needs the token.
    const refusedStatus = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${app.port}/api/ws`)
      ws.on('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0))
      ws.on('open', () => reject(new Error('the socket opened without the token')))
      ws.on('error', () => {})
    })
    expect(refusedStatus).toBe(401)
    expect(await app.stop()).toBe(0)
    expect(app.output().split('\n').filter((line) => line.startsWith('Sorted Studio listening on'))).toHaveLength(1)
  })

  it('uses SORTED_STUDIO_HOME when --data-dir is absent', async () => {
    const home = join(dataRoot, 'from-env')
    const child = runCli(['serve', '--port', '0'], { SORTED_STUDIO_HOME: home })
    let stderr = ''
    await new Promise<void>((resolve) =>
      child.stderr?.on('data', (c) => {
        stderr += c
        if (stderr.includes('\n')) resolve()
      }),
    )
    child.kill('SIGTERM')
    await new Promise((resolve) => child.once('exit', resolve))
    expect(stderr).toContain(`Data folder: ${home}`)
  })

  it('refuses a port already in use with a clear message', async () => {
    const first = await serve(join(dataRoot, 'b'))
    const result = await finish(['serve', '--port', String(first.port), '--data-dir', join(dataRoot, 'c')])
    await first.stop()
    expect(result.code).toBe(2)
    expect(result.stderr).toContain(`Port ${first.port} on 127.0.0.1 is already in use`)
  })
})
