/** User settings as a key → JSON value map; the API layer owns their schema and defaults. */
import type { Database, Statement, Transaction } from 'better-sqlite3'
import type { Clock } from './clock'
import { decodeJson, encodeJson } from './json'

interface SettingRow {
  key: string
  value: string
}

export class SettingsRepository {
  readonly #all: Statement<[], SettingRow>
  readonly #get: Statement<[string], SettingRow>
  readonly #put: Statement<[string, string, number]>
  readonly #delete: Statement<[string]>
  readonly #setMany: Transaction<(entries: Readonly<Record<string, unknown>>) => void>

  constructor(db: Database, now: Clock) {
    this.#all = db.prepare<[], SettingRow>('SELECT key, value FROM settings ORDER BY key')
    this.#get = db.prepare<[string], SettingRow>('SELECT key, value FROM settings WHERE key = ?')
    this.#put = db.prepare<[string, string, number]>(
      `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
    )
    this.#delete = db.prepare<[string]>('DELETE FROM settings WHERE key = ?')
    this.#setMany = db.transaction((entries: Readonly<Record<string, unknown>>) => {
      const at = now()
      for (const [key, value] of Object.entries(entries)) {
        if (value === undefined) this.#delete.run(key)
        else this.#put.run(key, encodeJson(value, `setting ${key}`), at)
      }
    })
  }

  /** Every stored setting, decoded. */
  all(): Record<string, unknown> {
    const settings: Record<string, unknown> = {}
    for (const row of this.#all.all()) settings[row.key] = decodeJson(row.value)
    return settings
  }

  /** The decoded value, or undefined when the key was never set. */
  get(key: string): unknown {
    const row = this.#get.get(key)
    return row === undefined ? undefined : decodeJson(row.value)
  }

  /**
   * Writes all entries or none. An `undefined` value removes the key, as
   * JSON drops undefined properties.
   */
  setMany(entries: Readonly<Record<string, unknown>>): void {
    this.#setMany(entries)
  }

  set(key: string, value: unknown): void {
    this.#setMany({ [key]: value })
  }
}
