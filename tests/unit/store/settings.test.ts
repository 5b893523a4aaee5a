import { describe, expect, it } from 'vitest'
import { openStore } from '../../../src-main/store'
import { memoryStore, open, tempDbPath } from './helpers'

describe('SettingsRepository', () => {
  it('reads back each value with its JSON type', () => {
    const { settings } = memoryStore()
    const values = { theme: 'dark', fontSize: 14, telemetry: false, recent: ['a', 'b'], window: { width: 800, height: 600 } }

    settings.setMany(values)

    expect(settings.all()).toEqual(values)
    expect(settings.get('window')).toEqual({ width: 800, height: 600 })
  })

  it('answers undefined for a key never set', () => {
    expect(memoryStore().settings.get('theme')).toBeUndefined()
  })

  it('replaces an existing value', () => {
    const { settings } = memoryStore()
    settings.set('theme', 'dark')

    settings.setMany({ theme: 'light' })

    expect(settings.get('theme')).toBe('light')
  })

  it('removes a key set to undefined', () => {
    const { settings } = memoryStore()
    settings.setMany({ theme: 'dark', executionProvider: 'cuda' })

    settings.setMany({ theme: undefined })

    expect(settings.all()).toEqual({ executionProvider: 'cuda' })
  })

  it('writes none of the entries when one cannot be stored, naming it', () => {
    const { settings } = memoryStore()
    settings.set('theme', 'dark')

    expect(() => settings.setMany({ theme: 'light', seed: 10n, executionProvider: 'cpu' })).toThrow('setting seed')
    expect(settings.all()).toEqual({ theme: 'dark' })
  })

  it('keeps settings across closing and reopening the same file', () => {
    const path = tempDbPath()
    const first = openStore(path)
    first.settings.setMany({ theme: 'dark', executionProvider: 'cuda' })
    first.close()

    expect(open(path).settings.all()).toEqual({ theme: 'dark', executionProvider: 'cuda' })
  })
})
