/**
 * Settings: the execution provider and the theme, shared by every window.
 * Part of the API contract (see index.ts).
 */
import { z } from 'zod'
import { Empty } from './common'

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

export const settingsMethods = {
  'settings.get': { request: Empty, response: Settings },
  'settings.update': { request: SettingsPatch, response: Settings },
} as const

export const settingsEvents = {
  /** Settings changed (from any window or tab); carries the whole new value. */
  'settings.changed': Settings,
} as const
