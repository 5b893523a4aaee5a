/**
 * Settings → "Local API server": on/off, port and key through the contract,
 * with the desktop app's /v1-only listener.
 */
import { createServer, type Server } from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { LocalApiState } from '../../../src-main/api/contract'
import { openBackend, type OpenedBackend } from '../../../src-main/services/backend'
import { startApiServer } from '../../../src-main/server/openai/listener'
import { callBackend } from '../../fixtures/backend'

const root = mkdtempSync(join(tmpdir(), 'local-api-switch-'))
let backend: OpenedBackend
let taken: Server

function open(): OpenedBackend {
  return openBackend({ transport: 'electron', dataDir: join(root, 'data'), log: () => {}, localApiListen: (api, { port, key }) => startApiServer({ api, port, key }) })
}

async function freePort(): Promise<number> {
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const { port } = probe.address() as AddressInfo
  await new Promise((resolve) => probe.close(resolve))
  return port
}

const call = (method: string, params: unknown = {}) => callBackend<LocalApiState>(backend, method, params)
const models = (url: string, key: string) => fetch(`${url}/models`, { headers: { authorization: `Bearer ${key}` } }).then((r) => r.status)

beforeAll(async () => {
  backend = open()
  taken = createServer()
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
})

afterAll(async () => {
  await backend.close()
  await new Promise((resolve) => taken.close(resolve))
  rmSync(root, { recursive: true, force: true })
})

describe('the local API switch', () => {
  it('is off by default and shows the stored key', async () => {
    const state = await call('localApi.get')
    expect(state).toMatchObject({ enabled: false, state: 'off', fixed: false })
    expect(state.key).toMatch(/^sk-sorted-/)
  })

  it('listens on the chosen port when turned on, with the key; a new key shuts the old one out', async () => {
    const port = await freePort()
    const on = await call('localApi.configure', { enabled: true, port })
    expect(on).toMatchObject({ enabled: true, port, state: 'on', url: `http://127.0.0.1:${port}/v1` })
    expect(await models(on.url!, on.key)).toBe(200)
    const renewed = await call('localApi.regenerateKey')
    expect(renewed.key).not.toBe(on.key)
    expect(await models(renewed.url!, on.key)).toBe(401)
    expect(await models(renewed.url!, renewed.key)).toBe(200)
  })

  it('says why it cannot listen on a port in use, and stops listening when turned off', async () => {
    const busy = (taken.address() as AddressInfo).port
    const failed = await call('localApi.configure', { port: busy })
    expect(failed).toMatchObject({ state: 'error', error: expect.stringContaining(`Port ${busy}`) })
    const port = await freePort()
    const on = await call('localApi.configure', { port })
    expect(on.state).toBe('on')
    const off = await call('localApi.configure', { enabled: false })
    expect(off).toMatchObject({ enabled: false, state: 'off' })
    await expect(models(on.url!, on.key)).rejects.toThrow()
  })

  it('comes back on at the next start when it was left on', async () => {
    const port = await freePort()
    await call('localApi.configure', { enabled: true, port })
    await backend.close()
    backend = open()
    const state = await backend.localApiSwitch.start()
    expect(state).toMatchObject({ state: 'on', port })
    expect(await models(state.url!, state.key)).toBe(200)
  })

  it('refuses a port below 1024, naming the field', async () => {
    await expect(call('localApi.configure', { port: 80 })).rejects.toMatchObject({ error: { code: 'invalid_params', issues: [{ path: 'port' }] } })
  })
})
