/**
 * The one module that starts worker threads, listens to them and ends them;
 * services describe what they send and hear, and never touch a Worker.
 *
 * Two shapes:
 * - a channel (engine, compare): one worker kept for many requests, started
 *   on the first send; when it crashes the owner hears it once (so it can
 *   tell every request in flight that it failed) and the next send starts a
 *   new worker;
 * - a job (a training run, an evaluation, a dataset preview, an import
 *   check): one worker per job, which ends once, with a result or a failure,
 *   and is then terminated. Cancel is cooperative: the job's cancel message,
 *   then, where the job gives a grace period, the worker is ended if it has
 *   not finished by then.
 *
 * For both, every message from a worker is checked: the shared envelope
 * (`log`, `fault`: workers/worker-envelope.ts) is handled here, the rest
 * against the schema the owner gives; a malformed one is logged, and fails a
 * job that asks for that. A handler of the owner's that throws never reaches
 * the worker's event emitter (where it would take the process down): it
 * fails the job with the error's message, or is logged for a channel.
 * This module knows no protocol.
 */
import { Worker } from 'node:worker_threads'
import type { z } from 'zod'
import { ApiError } from '../api/errors'
import { firstIssue, FromAnyWorker } from '../workers/worker-envelope'

/** A worker's entry file: the built `*-worker.js`, or scripts/tsx-worker.mjs with the source entry in workerData. */
export interface WorkerSpec {
  path: string
  workerData?: unknown
}

type Log = (message: string) => void

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error))

interface Hooks<Out> {
  message(message: Out): void
  /** The worker stopped, faulted, or (when malformed messages fail) sent one: it is being ended. */
  stopped(error: string): void
  /** A `message` hook threw. */
  handlerThrew(error: unknown): void
}

/** One running worker: its messages checked and routed to `hooks`, nothing heard once it is ended. */
class HostedWorker<Out> {
  private readonly worker: Worker
  /** Read at start: a worker that has stopped reports -1. */
  readonly threadId: number
  private ended = false

  constructor(
    spec: WorkerSpec,
    private readonly label: string,
    private readonly receives: z.ZodType<Out>,
    private readonly failOnMalformed: boolean,
    private readonly log: Log,
    private readonly hooks: Hooks<Out>,
  ) {
    this.worker = new Worker(spec.path, { workerData: spec.workerData })
    this.threadId = this.worker.threadId
    this.worker.on('message', (raw: unknown) => this.receive(raw))
    this.worker.on('error', (error) => this.stop(`${label} stopped: ${error.message}`))
    this.worker.on('exit', (code) => this.stop(`${label} stopped (exit code ${code}).`))
  }

  post(message: unknown): void {
    if (!this.ended) this.worker.postMessage(message)
  }

  /** Ends the worker without a word to the owner. */
  end(): Promise<number> {
    this.ended = true
    return this.worker.terminate()
  }

  private receive(raw: unknown): void {
    if (this.ended) return
    const shared = FromAnyWorker.safeParse(raw)
    if (shared.success) {
      if (shared.data.type === 'log') this.log(shared.data.message)
      else this.stop(`${this.label} failed: ${shared.data.error}`)
      return
    }
    const parsed = this.receives.safeParse(raw)
    if (!parsed.success) {
      const issue = firstIssue(parsed.error)
      this.log(`${this.label} sent a malformed message: ${issue}`)
      if (this.failOnMalformed) this.stop(`${this.label} sent a malformed message (${issue}).`)
      return
    }
    try {
      this.hooks.message(parsed.data)
    } catch (error) {
      this.hooks.handlerThrew(error)
    }
  }

  private stop(error: string): void {
    if (this.ended) return
    void this.end()
    try {
      this.hooks.stopped(error)
    } catch (caught) {
      this.log(`${this.label}: ${messageOf(caught)}`)
    }
  }
}

export interface ChannelOptions<Out> {
  /** Names the worker in errors: "The engine" → "The engine stopped (exit code 1)." */
  label: string
  /** The error a send reports when this process has no such worker. */
  unavailable: string
  /** What the worker may send (its protocol's schema). */
  receives: z.ZodType<Out>
  onMessage(message: Out): void
  /** The worker stopped: whatever was in flight has failed; the next send starts a new worker. */
  onCrash(error: string): void
}

/** One worker kept for many requests, started on the first send and again after a crash. */
export interface WorkerChannel<In> {
  /** Whether a worker is running. */
  readonly started: boolean
  send(message: In): void
  /** Ends the worker; no crash is reported. */
  close(): Promise<void>
}

export interface JobOptions<In, Out, R> {
  /** Names the worker in errors: "The training worker" → "The training worker stopped (exit code 1)." */
  label: string
  /** The error starting reports when this process has no such worker. */
  unavailable: string
  receives: z.ZodType<Out>
  /** The job's first message, sent as the worker starts. */
  start: In
  /** Whether a malformed message fails the job (otherwise it is logged and ignored). */
  failOnMalformed?: boolean
  /** What `cancel()` sends, and how long the worker then has to finish before it is ended (none: it is never forced). */
  cancel?: { message: In; graceMs?: number }
  /** Each message from the worker; call `end` with the job's result. A throw fails the job with the error's message. */
  onMessage(message: Out, end: (result: R) => void): void
  /** Called once: with the result, or with why the job failed. A throw here is logged. */
  onEnd(end: JobEnd<R>): void
}

export type JobEnd<R> = { ok: true; result: R } | { ok: false; error: string; cancelTimedOut?: true }

/** One worker for one job. */
export interface WorkerJob<In> {
  /** The worker's thread id, for what the worker may leave behind tagged with it (e.g. a run folder's lock). */
  readonly threadId: number
  send(message: In): void
  /** Sends the cancel message; the job ends when the worker answers (or as timed out after the grace period). */
  cancel(): void
  /** Ends the worker with nothing reported (the app is closing); the owner records what that means for the job. */
  abandon(): Promise<void>
}

/** What services see of the host: each service names the workers it uses. */
export interface Workers<Name extends string> {
  available(name: Name): boolean
  channel<In, Out>(name: Name, options: ChannelOptions<Out>): WorkerChannel<In>
  job<In, Out, R>(name: Name, options: JobOptions<In, Out, R>): WorkerJob<In>
}

export class WorkerHost<Name extends string> implements Workers<Name> {
  /** Every worker started and not yet ended, of any kind: close() ends them all. */
  private readonly running = new Set<{ end(): Promise<number> }>()

  constructor(
    private readonly specs: Partial<Record<Name, WorkerSpec>>,
    private readonly log: Log,
  ) {}

  available(name: Name): boolean {
    return this.specs[name] !== undefined
  }

  private spawn<Out>(name: Name, unavailable: string, label: string, receives: z.ZodType<Out>, failOnMalformed: boolean, hooks: Hooks<Out>): HostedWorker<Out> {
    const spec = this.specs[name]
    if (!spec) throw new ApiError('internal', unavailable)
    const hosted: HostedWorker<Out> = new HostedWorker(spec, label, receives, failOnMalformed, this.log, {
      ...hooks,
      stopped: (error) => {
        this.running.delete(hosted)
        hooks.stopped(error)
      },
    })
    this.running.add(hosted)
    return hosted
  }

  private forget(hosted: { end(): Promise<number> }): Promise<number> {
    this.running.delete(hosted)
    return hosted.end()
  }

  channel<In, Out>(name: Name, options: ChannelOptions<Out>): WorkerChannel<In> {
    let current: HostedWorker<Out> | undefined
    const ensure = (): HostedWorker<Out> => {
      if (current) return current
      const hosted: HostedWorker<Out> = this.spawn(name, options.unavailable, options.label, options.receives, false, {
        message: (message) => options.onMessage(message),
        stopped: (error) => {
          if (current === hosted) current = undefined
          options.onCrash(error)
        },
        handlerThrew: (error) => this.log(`${options.label}: a message could not be handled: ${messageOf(error)}`),
      })
      current = hosted
      return hosted
    }
    return {
      get started() {
        return current !== undefined
      },
      send: (message) => ensure().post(message),
      close: async () => {
        const hosted = current
        current = undefined
        if (hosted) await this.forget(hosted)
      },
    }
  }

  job<In, Out, R>(name: Name, options: JobOptions<In, Out, R>): WorkerJob<In> {
    let settled = false
    let graceTimer: NodeJS.Timeout | undefined
    // The hooks call `settle`, defined below: they run only once this function has returned.
    const hosted = this.spawn(name, options.unavailable, options.label, options.receives, options.failOnMalformed ?? false, {
      message: (message) => {
        if (!settled) options.onMessage(message, (result) => settle({ ok: true, result }))
      },
      stopped: (error) => settle({ ok: false, error }),
      handlerThrew: (error) => settle({ ok: false, error: messageOf(error) }),
    })
    const settle = (end: JobEnd<R>) => {
      if (settled) return
      settled = true
      clearTimeout(graceTimer)
      void this.forget(hosted)
      try {
        options.onEnd(end)
      } catch (error) {
        this.log(`${options.label}: ${messageOf(error)}`)
      }
    }
    hosted.post(options.start)
    return {
      threadId: hosted.threadId,
      send: (message) => {
        if (!settled) hosted.post(message)
      },
      cancel: () => {
        if (settled || !options.cancel) return
        hosted.post(options.cancel.message)
        const graceMs = options.cancel.graceMs
        if (graceMs === undefined || graceTimer) return
        graceTimer = setTimeout(
          () => settle({ ok: false, error: `${options.label} did not stop within ${graceMs / 1000} s of being cancelled.`, cancelTimedOut: true }),
          graceMs,
        )
        graceTimer.unref()
      },
      abandon: async () => {
        settled = true
        clearTimeout(graceTimer)
        await this.forget(hosted)
      },
    }
  }

  /** Ends every worker still running, reporting nothing (the app is closing). */
  async close(): Promise<void> {
    const running = [...this.running]
    this.running.clear()
    await Promise.all(running.map((hosted) => hosted.end()))
  }
}
