/**
 * The worker side of the worker host (services/worker-host.ts): each worker
 * entry file opens its port here, names the schema of what it accepts, and
 * gets every message checked against it. A handler that throws (or whose
 * promise rejects) is reported as a `fault`, so the service hears why the
 * work stopped rather than waiting for an answer that never comes.
 */
import { parentPort } from 'node:worker_threads'
import type { z } from 'zod'
import { firstIssue, type FromAnyWorker } from './worker-envelope'

export interface WorkerPort<Out> {
  /** A message of this worker's protocol, or a shared one (`log`, `fault`). */
  post(message: Out | FromAnyWorker): void
  /** A line for the app's log. */
  log(message: string): void
  /**
   * Hands every message `schema` accepts to `handle`. A message it refuses
   * goes to `onMalformed` (by default logged and ignored).
   */
  listen<S extends z.ZodType>(schema: S, handle: (message: z.output<S>) => void | Promise<void>, options?: { onMalformed?: (issue: string) => void }): void
}

/** `name` (e.g. "engine worker") starts every line this port logs about itself. */
export function openWorkerPort<Out>(name: string): WorkerPort<Out> {
  const port = parentPort
  if (!port) throw new Error(`${name} must run in a worker thread`)
  const post = (message: Out | FromAnyWorker) => port.postMessage(message)
  const fault = (error: unknown) => post({ type: 'fault', error: `${name}: ${error instanceof Error ? error.message : String(error)}` })
  return {
    post,
    log: (message) => post({ type: 'log', message }),
    listen(schema, handle, options = {}) {
      const onMalformed = options.onMalformed ?? ((issue: string) => post({ type: 'log', message: `${name}: ignoring a malformed message (${issue})` }))
      port.on('message', (raw: unknown) => {
        const parsed = schema.safeParse(raw)
        if (!parsed.success) return onMalformed(firstIssue(parsed.error))
        try {
          const pending = handle(parsed.data)
          if (pending) pending.catch(fault)
        } catch (error) {
          fault(error)
        }
      })
    },
  }
}
