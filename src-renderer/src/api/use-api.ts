/**
 * The ApiClient reaches components and stores through provide/inject rather
 * than a module singleton, so a test (or a future second window kind) can hand
 * the app a different client.
 */
import { inject, type App, type InjectionKey } from 'vue'
import type { ApiClient } from './client'

export const apiKey: InjectionKey<ApiClient> = Symbol('sorted-studio-api')

export function provideApi(app: App, client: ApiClient): void {
  app.provide(apiKey, client)
}

/** The app's client; call it in a component's setup or a store's setup. */
export function useApi(): ApiClient {
  const client = inject(apiKey, null)
  if (!client) throw new Error('No ApiClient provided: call provideApi(app, client) before using the API.')
  return client
}
