/**
 * The app itself: version, platform, providers, and the desktop pickers.
 * Part of the API contract (see index.ts).
 */
import { z } from 'zod'
import { Empty } from './common'
import { ExecutionProviderPreference } from './settings'

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

/** The compiled-graph cache: one entry per model, precision and provider loaded (README, Compiled-graph cache). */
export const GraphCacheUsage = z.object({
  entries: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
})
export type GraphCacheUsage = z.infer<typeof GraphCacheUsage>

export const appMethods = {
  'app.info': { request: Empty, response: AppInfo },
  'app.graphCache': { request: Empty, response: GraphCacheUsage },
  /** Removes every compiled model (each compiles again at its next load); `kept`: entries in use that could not be removed. */
  'app.clearGraphCache': {
    request: Empty,
    response: z.object({ removed: z.number().int().nonnegative(), kept: z.number().int().nonnegative(), freedBytes: z.number().int(), usage: GraphCacheUsage }),
  },
  /** The desktop app's native folder picker; null when cancelled. Browser mode has none (type a path instead). */
  'app.pickFolder': { request: z.object({ title: z.string().max(200).optional() }).strict(), response: z.object({ path: z.string().nullable() }) },
  /** The desktop app's open-file dialog (e.g. for a dataset); browser mode has none and answers conflict. */
  'app.pickFile': {
    request: z
      .object({
        title: z.string().max(200).optional(),
        /** Extensions offered, without dots, e.g. ['json', 'jsonl']. */
        extensions: z.array(z.string().regex(/^[A-Za-z0-9]{1,10}$/)).max(20).optional(),
      })
      .strict(),
    response: z.object({ path: z.string().nullable() }),
  },
} as const
