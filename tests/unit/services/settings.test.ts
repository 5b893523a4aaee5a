import { describe, expect, it, vi } from 'vitest'
import { defaultSettings } from '../../../src-main/api/contract'
import { EventBus } from '../../../src-main/services/events'
import { SettingsService, type SettingsStore } from '../../../src-main/services/settings'

function memoryStore(initial: Record<string, unknown> = {}): SettingsStore & { data: Record<string, unknown> } {
  const data = { ...initial }
  return { data, all: () => ({ ...data }), setMany: (entries) => Object.assign(data, entries) }
}

describe('settings', () => {
  it('reads defaults when nothing is stored', () => {
    expect(new SettingsService({ store: memoryStore(), bus: new EventBus(), warn: vi.fn() }).get()).toEqual(defaultSettings)
  })

  it('stores an update, returns the whole new value and tells every listener', () => {
    const store = memoryStore()
    const bus = new EventBus()
    const heard = vi.fn()
    bus.subscribe(heard)
    const result = new SettingsService({ store, bus, warn: vi.fn() }).update({ executionProvider: 'cpu' })
    expect(result).toEqual({ ...defaultSettings, executionProvider: 'cpu' })
    expect(store.data).toEqual({ executionProvider: 'cpu' })
    expect(heard).toHaveBeenCalledWith('settings.changed', result)
  })

  it('falls back to the default for a stored value the contract no longer allows, and says so', () => {
    const warn = vi.fn()
    const service = new SettingsService({ store: memoryStore({ theme: 'sepia', executionProvider: 'cuda' }), bus: new EventBus(), warn })
    expect(service.get()).toEqual({ theme: defaultSettings.theme, executionProvider: 'cuda' })
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('theme'))
  })

  it('ignores stored keys that are not settings', () => {
    const service = new SettingsService({ store: memoryStore({ retired: 1 }), bus: new EventBus(), warn: vi.fn() })
    expect(service.get()).toEqual(defaultSettings)
  })
})
