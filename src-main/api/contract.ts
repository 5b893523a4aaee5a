/**
 * The API contract: every method the UI can call and every event the backend
 * pushes, as zod schemas with their inferred types. Electron IPC and browser
 * mode (WebSocket) are two transports of exactly this contract, so a method
 * added here works in both.
 *
 * This module depends on nothing but zod: the renderer imports its types, and
 * both transports validate every message with its schemas.
 */
import { z } from 'zod'

// ---------------------------------------------------------------- settings

export const executionProviderIds = ['auto', 'cpu', 'cuda', 'dml', 'webgpu'] as const
export const ExecutionProviderPreference = z.enum(executionProviderIds)
export type ExecutionProviderPreference = z.infer<typeof ExecutionProviderPreference>

export const Theme = z.enum(['system', 'light', 'dark'])
export type Theme = z.infer<typeof Theme>

export const Settings = z.object({
  /** Which ONNX Runtime execution provider the engine should try first. */
  executionProvider: ExecutionProviderPreference,
  theme: Theme,
})
export type Settings = z.infer<typeof Settings>

export const defaultSettings: Settings = { executionProvider: 'auto', theme: 'system' }

/** A partial update; unknown keys are an error, so typos do not vanish silently. */
export const SettingsPatch = Settings.partial().strict()
export type SettingsPatch = z.infer<typeof SettingsPatch>

// ---------------------------------------------------------------- system

export const ProviderStatus = z.object({
  id: ExecutionProviderPreference.exclude(['auto']),
  label: z.string(),
  /** True when this build of ONNX Runtime can use the provider on this machine. */
  available: z.boolean(),
  /** Why it is unavailable, or how to enable it; empty when available. */
  note: z.string(),
})
export type ProviderStatus = z.infer<typeof ProviderStatus>

export const AppInfo = z.object({
  name: z.string(),
  version: z.string(),
  /** `electron` in the desktop window, `browser` when served over HTTP. */
  transport: z.enum(['electron', 'browser']),
  platform: z.string(),
  /** Where the database and model cache live. */
  dataDir: z.string(),
  databasePath: z.string(),
  schemaVersion: z.number().int(),
  providers: z.array(ProviderStatus),
})
export type AppInfo = z.infer<typeof AppInfo>

// ---------------------------------------------------------------- registry

const Empty = z.object({}).strict()

/** Every request/response pair, keyed by method name. */
export const methods = {
  'app.info': { request: Empty, response: AppInfo },
  'settings.get': { request: Empty, response: Settings },
  'settings.update': { request: SettingsPatch, response: Settings },
} as const

/** Every event the backend pushes to all connected windows, keyed by name. */
export const events = {
  /** Settings changed (from any window or tab); carries the whole new value. */
  'settings.changed': Settings,
} as const

export type MethodName = keyof typeof methods
export type EventName = keyof typeof events
export type MethodRequest<M extends MethodName> = z.input<(typeof methods)[M]['request']>
export type MethodParams<M extends MethodName> = z.output<(typeof methods)[M]['request']>
export type MethodResponse<M extends MethodName> = z.output<(typeof methods)[M]['response']>
export type EventPayload<E extends EventName> = z.output<(typeof events)[E]>

export const methodNames = Object.keys(methods) as MethodName[]
export const eventNames = Object.keys(events) as EventName[]

export function isMethodName(name: string): name is MethodName {
  return Object.hasOwn(methods, name)
}

export function isEventName(name: string): name is EventName {
  return Object.hasOwn(events, name)
}
