/**
 * The OpenAI-compatible local API server as Settings shows it: on or off, its
 * port, its key (shown, and regenerable) and where it listens.
 * Part of the API contract (see index.ts).
 */
import { z } from 'zod'
import { Empty } from './common'

export const LocalApiState = z.object({
  /** What the user chose (stored). */
  enabled: z.boolean(),
  port: z.number().int().min(1).max(65535),
  /** What is happening: off, listening at `url`, or could not listen (`error` says why). */
  state: z.enum(['off', 'on', 'error']),
  url: z.string().optional(),
  /** The key clients send as `Authorization: Bearer KEY`. */
  key: z.string(),
  error: z.string().optional(),
  /** Set on the command line (`sorted serve --api`): Settings shows it but cannot change it. */
  fixed: z.boolean(),
})
export type LocalApiState = z.infer<typeof LocalApiState>

export const LocalApiChange = z
  .object({
    enabled: z.boolean().optional(),
    port: z.number().int().min(1024, { error: 'use a port from 1024 to 65535' }).max(65535, { error: 'use a port from 1024 to 65535' }).optional(),
  })
  .strict()
export type LocalApiChange = z.infer<typeof LocalApiChange>

export const localApiMethods = {
  'localApi.get': { request: Empty, response: LocalApiState },
  /** Turns the server on or off, or moves it to another port; resolves once it listens (or could not). */
  'localApi.configure': { request: LocalApiChange, response: LocalApiState },
  /** A new key; clients holding the old one are refused from now on. */
  'localApi.regenerateKey': { request: Empty, response: LocalApiState },
} as const

export const localApiEvents = {
  'localApi.changed': LocalApiState,
} as const
