/**
 * Settings → "Local API server": whether the OpenAI-compatible API listens,
 * on which port, with which key. The choice is stored with the settings
 * (keys `localApi.enabled`, `localApi.port`) and applied at start and on each
 * change. Opening a listener is the transport's job (the server layer), so
 * the process that owns the backend passes `listen`: the desktop app opens a
 * /v1-only listener on the port; browser mode turns /v1 on in its own server.
 * Start, stop and restart run one after another, never overlapping.
 */
import type { LocalApiChange, LocalApiState } from '../api/contract'
import { ApiError } from '../api/errors'
import { readOrCreateApiKey, regenerateApiKey } from './api-key'
import type { EventBus } from './events'
import type { LocalApiService } from './local-api'

/** Opens the API's listener; resolves once it listens, rejects with why it cannot. */
export type ApiListen = (api: LocalApiService, options: { port: number; key: string }) => Promise<{ url: string; close(): Promise<void> }>

/** The part of the settings store this needs (store/SettingsRepository). */
export interface SwitchStore {
  all(): Record<string, unknown>
  setMany(entries: Record<string, unknown>): void
}

export const defaultLocalApiPort = 41234
const enabledKey = 'localApi.enabled'
const portKey = 'localApi.port'

export interface LocalApiSwitchDeps {
  /** Where the on/off and port settings are kept. */
  store: SwitchStore
  bus: EventBus
  api: LocalApiService
  /** The data folder, which holds the API key file. */
  dataDir: string
  /** Opens the API's listener; absent where the app cannot listen (tests). */
  listen: ApiListen | undefined
  warn: (message: string) => void
}

export class LocalApiSwitch {
  private listener: { url: string; close(): Promise<void> } | undefined
  private error: string | undefined
  private fixedTo: { url: string; key: string } | undefined
  private turn: Promise<unknown> = Promise.resolve()

  private readonly store: SwitchStore
  private readonly bus: EventBus
  private readonly api: LocalApiService
  private readonly dataDir: string
  private readonly listen: ApiListen | undefined
  private readonly warn: (message: string) => void

  constructor({ store, bus, api, dataDir, listen, warn }: LocalApiSwitchDeps) {
    this.store = store
    this.bus = bus
    this.api = api
    this.dataDir = dataDir
    this.listen = listen
    this.warn = warn
  }

  state(): LocalApiState {
    const { enabled, port } = this.stored()
    if (this.fixedTo) return { enabled: true, port, state: 'on', url: this.fixedTo.url, key: this.fixedTo.key, fixed: true }
    return {
      enabled,
      port,
      state: this.listener ? 'on' : this.error ? 'error' : 'off',
      ...(this.listener ? { url: this.listener.url } : {}),
      key: this.key(),
      ...(this.error ? { error: this.error } : {}),
      fixed: false,
    }
  }

  /** `sorted serve --api`: the command line decides; Settings shows it and cannot change it. */
  fix(url: string, key: string): void {
    this.fixedTo = { url, key }
    this.announce()
  }

  /** Applies the stored choice (at start). */
  start(): Promise<LocalApiState> {
    return this.inTurn(() => this.apply())
  }

  configure(change: LocalApiChange): Promise<LocalApiState> {
    this.refuseIfFixed()
    return this.inTurn(async () => {
      const entries: Record<string, unknown> = {}
      if (change.enabled !== undefined) entries[enabledKey] = change.enabled
      if (change.port !== undefined) entries[portKey] = change.port
      this.store.setMany(entries)
      await this.apply()
    })
  }

  regenerateKey(): Promise<LocalApiState> {
    this.refuseIfFixed()
    return this.inTurn(async () => {
      regenerateApiKey(this.dataDir)
      // The listener holds the key it was opened with: reopen it with the new one.
      await this.stop()
      await this.apply()
    })
  }

  close(): Promise<void> {
    return this.turn.then(() => this.stop())
  }

  private key(): string {
    return readOrCreateApiKey(this.dataDir, this.warn)
  }

  private stored(): { enabled: boolean; port: number } {
    const all = this.store.all()
    const enabled = all[enabledKey] === true
    const port = all[portKey]
    return { enabled, port: typeof port === 'number' && Number.isInteger(port) && port >= 1 && port <= 65535 ? port : defaultLocalApiPort }
  }

  private refuseIfFixed(): void {
    if (this.fixedTo) throw new ApiError('conflict', 'The local API was set on the command line (sorted serve --api); restart without --api to manage it here.')
  }

  private inTurn(work: () => Promise<void>): Promise<LocalApiState> {
    const run = this.turn.then(work)
    this.turn = run.catch(() => {})
    return run.then(() => {
      this.announce()
      return this.state()
    })
  }

  private async apply(): Promise<void> {
    const { enabled, port } = this.stored()
    await this.stop()
    this.error = undefined
    if (!enabled) return
    if (!this.listen) {
      this.error = 'The local API server is not available in this process.'
      return
    }
    try {
      this.listener = await this.listen(this.api, { port, key: this.key() })
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      this.error = code === 'EADDRINUSE' ? `Port ${port} on 127.0.0.1 is already in use: choose another.` : `Could not listen on port ${port}: ${(error as Error).message}`
      this.warn(`Local API server: ${this.error}`)
    }
  }

  private async stop(): Promise<void> {
    const listener = this.listener
    this.listener = undefined
    await listener?.close()
  }

  private announce(): void {
    this.bus.emit('localApi.changed', this.state())
  }
}
