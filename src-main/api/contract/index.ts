/**
 * The API contract: every method the UI can call and every event the backend
 * pushes, as zod schemas with their inferred types. Electron IPC and browser
 * mode (WebSocket) are two transports of exactly this contract, so a method
 * added here works in both.
 *
 * This module depends on nothing but zod: the renderer imports its types, and
 * both transports validate every message with its schemas.
 */
import type { z } from 'zod'
import { settingsMethods, settingsEvents } from './settings'
import { appMethods } from './app'
import { engineMethods, engineEvents } from './engine'
import { runsMethods, runsEvents } from './runs'
import { datasetsMethods } from './datasets'
import { evaluationsMethods, evaluationsEvents } from './evaluations'
import { compareMethods, compareEvents } from './compare'
import { modelsMethods, modelsEvents } from './models'
import { chatsMethods, chatsEvents } from './chats'
import { localApiMethods, localApiEvents } from './local-api'

export { Contender, ContenderMode } from './common'
export * from './settings'
export * from './app'
export * from './engine'
export * from './runs'
export * from './datasets'
export * from './evaluations'
export * from './compare'
export * from './models'
export * from './chats'
export * from './local-api'

/** Every request/response pair, keyed by method name, domain by domain. */
export const methods = {
  ...settingsMethods,
  ...appMethods,
  ...engineMethods,
  ...runsMethods,
  ...datasetsMethods,
  ...evaluationsMethods,
  ...compareMethods,
  ...modelsMethods,
  ...chatsMethods,
  ...localApiMethods,
} as const

/** Every event the backend pushes to all connected windows, keyed by name. */
export const events = {
  ...settingsEvents,
  ...engineEvents,
  ...runsEvents,
  ...evaluationsEvents,
  ...compareEvents,
  ...modelsEvents,
  ...chatsEvents,
  ...localApiEvents,
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
