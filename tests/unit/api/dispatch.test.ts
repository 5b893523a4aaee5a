import { describe, expect, it, vi } from 'vitest'
import { defaultSettings, methodNames, type AppInfo } from '../../../src-main/api/contract'
import { createDispatch, type Handlers } from '../../../src-main/api/dispatch'
import { ApiError } from '../../../src-main/api/errors'

const info: AppInfo = {
  name: 'Sorted Studio',
  version: '1.0.0',
  transport: 'browser',
  platform: 'linux-x64',
  dataDir: '/d',
  databasePath: '/d/sorted.db',
  schemaVersion: 1,
  providers: [],
}

const notUsedHere = () => {
  throw new Error('not used in these tests')
}

function handlers(overrides: Partial<Handlers> = {}): Handlers {
  return {
    ...(Object.fromEntries(methodNames.map((name) => [name, notUsedHere])) as unknown as Handlers),
    'app.info': () => info,
    'settings.get': () => defaultSettings,
    'settings.update': (patch) => ({ ...defaultSettings, ...patch }),
    ...overrides,
  }
}

describe('dispatch against the contract', () => {
  it('routes a valid request and returns the validated result', async () => {
    const dispatch = createDispatch(handlers(), vi.fn())
    expect(await dispatch('settings.update', { theme: 'dark' })).toEqual({ ok: true, result: { ...defaultSettings, theme: 'dark' } })
  })

  it('treats missing params as an empty object', async () => {
    const dispatch = createDispatch(handlers(), vi.fn())
    expect(await dispatch('settings.get', undefined)).toEqual({ ok: true, result: defaultSettings })
  })

  it('names an unknown method', async () => {
    const result = await createDispatch(handlers(), vi.fn())('settings.delete', {})
    expect(result).toMatchObject({ ok: false, error: { code: 'unknown_method', message: expect.stringContaining('settings.delete') } })
  })

  it('does not treat inherited object keys as methods', async () => {
    const result = await createDispatch(handlers(), vi.fn())('constructor', {})
    expect(result).toMatchObject({ ok: false, error: { code: 'unknown_method' } })
  })

  it('rejects invalid params naming the field, without calling the handler', async () => {
    const update = vi.fn()
    const result = await createDispatch(handlers({ 'settings.update': update }), vi.fn())('settings.update', { theme: 'purple' })
    expect(update).not.toHaveBeenCalled()
    expect(result).toMatchObject({ ok: false, error: { code: 'invalid_params', issues: [{ path: 'theme' }] } })
  })

  it('rejects unknown fields instead of ignoring them', async () => {
    const result = await createDispatch(handlers(), vi.fn())('settings.update', { thme: 'dark' })
    expect(result).toMatchObject({ ok: false, error: { code: 'invalid_params' } })
  })

  it('passes an ApiError through as structured data', async () => {
    const dispatch = createDispatch(handlers({ 'settings.get': () => { throw new ApiError('not_found', 'gone') } }), vi.fn())
    expect(await dispatch('settings.get', {})).toEqual({ ok: false, error: { code: 'not_found', message: 'gone' } })
  })

  it('reports an unexpected failure as internal and logs it', async () => {
    const log = vi.fn()
    const dispatch = createDispatch(handlers({ 'settings.get': () => { throw new Error('disk on fire') } }), log)
    expect(await dispatch('settings.get', {})).toMatchObject({ ok: false, error: { code: 'internal', message: expect.stringContaining('disk on fire') } })
    expect(log).toHaveBeenCalledOnce()
  })

  it('reports a failure the backend explains with its own code and message, without logging it as a bug', async () => {
    const log = vi.fn()
    const full = Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' })
    const explain = (error: unknown) => ((error as { code?: string }).code === 'ENOSPC' ? new ApiError('disk_full', 'The disk is full.') : undefined)
    const dispatch = createDispatch(handlers({ 'settings.get': () => { throw full } }), log, explain)
    expect(await dispatch('settings.get', {})).toEqual({ ok: false, error: { code: 'disk_full', message: 'The disk is full.' } })
    expect(log).not.toHaveBeenCalled()
  })

  it('refuses to hand out a response that breaks the contract', async () => {
    const log = vi.fn()
    const bad = (() => ({ theme: 'dark' })) as unknown as Handlers['settings.get']
    const result = await createDispatch(handlers({ 'settings.get': bad }), log)('settings.get', {})
    expect(result).toMatchObject({ ok: false, error: { code: 'internal' } })
    expect(log).toHaveBeenCalledOnce()
  })
})
