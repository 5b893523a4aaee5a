/**
 * The messages every kind of worker shares, whatever its protocol
 * (`*-protocol.ts` describe the rest). The worker host (services/worker-host.ts)
 * reads these itself, so no service handles them: a `log` line goes to the
 * app's log, a `fault` ends the worker as a crash would.
 */
import { z } from 'zod'

/** A line for the app's log. */
export const WorkerLog = z.object({ type: z.literal('log'), message: z.string() })

/**
 * A handler in the worker threw (workers/worker-port.ts reports it): the
 * worker's state is unknown, so it is ended and whatever it was doing fails
 * with `error`, instead of the service waiting for an answer that never comes.
 */
export const WorkerFault = z.object({ type: z.literal('fault'), error: z.string() })

export const FromAnyWorker = z.discriminatedUnion('type', [WorkerLog, WorkerFault])
export type FromAnyWorker = z.infer<typeof FromAnyWorker>

/** Cooperative cancel of a one-job worker: stop after the unit in hand and answer with the job's end. */
export const CancelJob = z.object({ type: z.literal('cancel') })
export type CancelJob = z.infer<typeof CancelJob>

/** A zod failure as one line: the first issue, with its path. */
export function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0]
  if (!issue) return 'invalid'
  return issue.path.length > 0 ? `${issue.path.join('.')}: ${issue.message}` : issue.message
}
