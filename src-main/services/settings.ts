import { defaultSettings, Settings, type SettingsPatch } from '../api/contract'
import type { EventBus } from './events'

/** The part of the store this service needs (see store/SettingsRepository). */
export interface SettingsStore {
  all(): Record<string, unknown>
  setMany(entries: Record<string, unknown>): void
}

/**
 * User preferences: stored key by key, read back over the defaults. A stored
 * value that no longer fits the contract (an option since removed, a hand
 * edit) falls back to its default instead of breaking the app.
 */
export interface SettingsServiceDeps {
  store: SettingsStore
  bus: EventBus
  /** Where a stored value that no longer fits is reported. */
  warn: (message: string) => void
}

export class SettingsService {
  private readonly store: SettingsStore
  private readonly bus: EventBus
  private readonly warn: (message: string) => void

  constructor({ store, bus, warn }: SettingsServiceDeps) {
    this.store = store
    this.bus = bus
    this.warn = warn
  }

  get(): Settings {
    const stored = this.store.all()
    const result: Record<string, unknown> = { ...defaultSettings }
    for (const key of Object.keys(defaultSettings) as (keyof Settings)[]) {
      if (!(key in stored)) continue
      const field = Settings.shape[key].safeParse(stored[key])
      if (field.success) result[key] = field.data
      else this.warn(`Ignoring stored setting "${key}": ${field.error.issues[0]?.message ?? 'invalid value'}`)
    }
    return Settings.parse(result)
  }

  update(patch: SettingsPatch): Settings {
    const entries = Object.fromEntries(Object.entries(patch).filter(([, value]) => value !== undefined))
    this.store.setMany(entries)
    const settings = this.get()
    this.bus.emit('settings.changed', settings)
    return settings
  }
}
