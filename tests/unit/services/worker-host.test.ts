/**
 * The worker host (services/worker-host.ts) with a real worker thread
 * (tests/fixtures/worker-scripts/host-test-worker.ts) that answers, crashes,
 * faults, sends malformed messages and ignores cancel.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { WorkerHost, type JobEnd, type WorkerChannel } from '../../../src-main/services/worker-host'
import { scriptWorker } from '../../fixtures/workers'
import { FromHostTestWorker, type ToHostTestWorker } from '../../fixtures/worker-scripts/host-test-protocol'

type Reply = FromHostTestWorker
let host: WorkerHost<'test' | 'missing'>
let log: ReturnType<typeof vi.fn<(message: string) => void>>

afterEach(async () => {
  await host.close()
})

function openHost(): void {
  log = vi.fn<(message: string) => void>()
  host = new WorkerHost<'test' | 'missing'>({ test: scriptWorker('host-test-worker') }, log)
}

/** Resolves with the next value `push` receives. */
function queue<T>(): { push: (value: T) => void; next: () => Promise<T> } {
  const values: T[] = []
  const waiting: ((value: T) => void)[] = []
  return {
    push: (value) => {
      const waiter = waiting.shift()
      if (waiter) waiter(value)
      else values.push(value)
    },
    next: () => (values.length > 0 ? Promise.resolve(values.shift()!) : new Promise<T>((resolve) => waiting.push(resolve))),
  }
}

/** Resolves once `log` has been called with a line containing `text`. */
function logged(text: string): Promise<string> {
  return new Promise((resolve) => {
    const check = setInterval(() => {
      const line = log.mock.calls.map(([message]) => message).find((message) => message.includes(text))
      if (line !== undefined) {
        clearInterval(check)
        resolve(line)
      }
    }, 5)
  })
}

function openChannel(onMessage?: (message: Reply) => void) {
  openHost()
  const replies = queue<Reply>()
  const crashes = queue<string>()
  const onCrash = vi.fn((error: string) => crashes.push(error))
  const channel: WorkerChannel<ToHostTestWorker> = host.channel<ToHostTestWorker, Reply>('test', {
    label: 'The test worker',
    unavailable: 'no test worker here',
    receives: FromHostTestWorker,
    onMessage: onMessage ?? replies.push,
    onCrash,
  })
  return { channel, replies, crashes, onCrash }
}

async function echo(channel: WorkerChannel<ToHostTestWorker>, replies: ReturnType<typeof queue<Reply>>, value: string): Promise<Reply> {
  channel.send({ type: 'echo', value })
  return replies.next()
}

describe('worker host: a channel (one worker kept for many requests)', () => {
  it('starts the worker on the first send and routes its answers', async () => {
    const { channel, replies } = openChannel()
    expect(channel.started).toBe(false)
    expect(await echo(channel, replies, 'one')).toMatchObject({ type: 'echoed', value: 'one' })
    expect(channel.started).toBe(true)
  })

  it('reports a crash once, naming the error, and starts a new worker on the next send', async () => {
    const { channel, replies, crashes, onCrash } = openChannel()
    const first = await echo(channel, replies, 'before')
    channel.send({ type: 'crash' })
    expect(await crashes.next()).toBe('The test worker stopped: boom')
    expect(channel.started).toBe(false)
    const second = await echo(channel, replies, 'after')
    expect(second).toMatchObject({ value: 'after' })
    expect(second.type === 'echoed' && first.type === 'echoed' && second.threadId).not.toBe(first.type === 'echoed' && first.threadId)
    // The exit that follows the error is not a second crash.
    expect(onCrash).toHaveBeenCalledTimes(1)
  })

  it('reports a worker that exits with its exit code', async () => {
    const { channel, crashes } = openChannel()
    channel.send({ type: 'exit', code: 3 })
    expect(await crashes.next()).toBe('The test worker stopped (exit code 3).')
  })

  it('ends a worker whose handler threw (a fault), as a crash naming the error', async () => {
    const { channel, replies, crashes } = openChannel()
    channel.send({ type: 'throw' })
    expect(await crashes.next()).toBe('The test worker failed: host test worker: handler broke')
    channel.send({ type: 'reject' })
    expect(await crashes.next()).toBe('The test worker failed: host test worker: promise broke')
    expect(await echo(channel, replies, 'still here')).toMatchObject({ value: 'still here' })
  })

  it('logs and ignores malformed messages from the worker', async () => {
    const { channel, replies, onCrash } = openChannel()
    channel.send({ type: 'malformed' })
    expect(await replies.next()).toMatchObject({ value: 'after' })
    const lines = log.mock.calls.map(([line]) => line)
    expect(lines).toEqual([expect.stringContaining('The test worker sent a malformed message: type'), expect.stringContaining('The test worker sent a malformed message: value')])
    expect(onCrash).not.toHaveBeenCalled()
  })

  it('logs a message the worker refused as malformed, and the worker keeps serving', async () => {
    const { channel, replies } = openChannel()
    channel.send({ type: 'no such message' } as unknown as ToHostTestWorker)
    expect(await logged('ignoring a malformed message')).toMatch(/^host test worker: ignoring a malformed message \(type/)
    expect(await echo(channel, replies, 'ok')).toMatchObject({ value: 'ok' })
  })

  it('writes the worker\'s log lines to the log', async () => {
    const { channel } = openChannel()
    channel.send({ type: 'say', text: 'hello from the worker' })
    expect(await logged('hello from the worker')).toBe('hello from the worker')
  })

  it('logs an owner\'s handler that throws, and keeps delivering', async () => {
    const replies = queue<Reply>()
    let calls = 0
    const { channel } = openChannel((message) => {
      if (++calls === 1) throw new Error('the owner broke')
      replies.push(message)
    })
    channel.send({ type: 'echo', value: 'lost' })
    channel.send({ type: 'echo', value: 'kept' })
    expect(await replies.next()).toMatchObject({ value: 'kept' })
    expect(log).toHaveBeenCalledWith('The test worker: a message could not be handled: the owner broke')
  })

  it('reports nothing when closed', async () => {
    const { channel, replies, onCrash } = openChannel()
    await echo(channel, replies, 'x')
    await channel.close()
    expect(channel.started).toBe(false)
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(onCrash).not.toHaveBeenCalled()
  })

  it('refuses a send when this process has no such worker', () => {
    openHost()
    const channel = host.channel<ToHostTestWorker, Reply>('missing', {
      label: 'x', unavailable: 'The missing worker is not available.', receives: FromHostTestWorker, onMessage: () => {}, onCrash: () => {},
    })
    expect(() => channel.send({ type: 'echo', value: 'x' })).toThrow('The missing worker is not available.')
    expect(host.available('missing')).toBe(false)
    expect(host.available('test')).toBe(true)
  })
})

describe('worker host: a job (one worker, one end)', () => {
  function startJob(
    options: { start?: ToHostTestWorker; failOnMalformed?: boolean; graceMs?: number; onMessage?: (message: Reply, end: (result: string) => void) => void; onEnd?: (end: JobEnd<string>) => void } = {},
  ) {
    openHost()
    const ends = queue<JobEnd<string>>()
    const onEnd = vi.fn((end: JobEnd<string>) => {
      ends.push(end)
      options.onEnd?.(end)
    })
    const job = host.job<ToHostTestWorker, Reply, string>('test', {
      label: 'The test job',
      unavailable: 'no test worker here',
      receives: FromHostTestWorker,
      start: options.start ?? { type: 'echo', value: 'started' },
      ...(options.failOnMalformed ? { failOnMalformed: true } : {}),
      cancel: { message: { type: 'cancel' }, ...(options.graceMs !== undefined ? { graceMs: options.graceMs } : {}) },
      onMessage: options.onMessage ?? ((message, end) => end(message.type === 'echoed' ? message.value : message.type)),
      onEnd,
    })
    return { job, ends, onEnd }
  }

  it('ends once, with the first result', async () => {
    const { job, ends, onEnd } = startJob()
    job.send({ type: 'echo', value: 'second' })
    expect(await ends.next()).toEqual({ ok: true, result: 'started' })
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(onEnd).toHaveBeenCalledTimes(1)
  })

  it('fails once when the worker crashes', async () => {
    const { ends, onEnd } = startJob({ start: { type: 'crash' } })
    expect(await ends.next()).toEqual({ ok: false, error: 'The test job stopped: boom' })
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(onEnd).toHaveBeenCalledTimes(1)
  })

  it('fails with the fault a throwing worker handler reports', async () => {
    const { ends } = startJob({ start: { type: 'throw' } })
    expect(await ends.next()).toEqual({ ok: false, error: 'The test job failed: host test worker: handler broke' })
  })

  it('ignores malformed messages, or fails on them when the job asks', async () => {
    const lenient = startJob({ start: { type: 'malformed' } })
    expect(await lenient.ends.next()).toEqual({ ok: true, result: 'after' })
    await host.close()
    const strict = startJob({ start: { type: 'malformed' }, failOnMalformed: true })
    expect(await strict.ends.next()).toEqual({ ok: false, error: expect.stringMatching(/^The test job sent a malformed message \(type: /) })
  })

  it('fails the job with the error an owner\'s handler throws (a full disk), and logs an end handler that throws', async () => {
    const { ends } = startJob({
      onMessage: () => {
        throw new Error('Could not save: the disk is full.')
      },
      onEnd: () => {
        throw new Error('could not even record the failure')
      },
    })
    expect(await ends.next()).toEqual({ ok: false, error: 'Could not save: the disk is full.' })
    expect(log).toHaveBeenCalledWith('The test job: could not even record the failure')
  })

  it('cancels cooperatively: the worker answers and the job ends with that', async () => {
    const { job, ends } = startJob({ start: { type: 'say', text: 'ready' }, graceMs: 60_000 })
    job.cancel()
    expect(await ends.next()).toEqual({ ok: true, result: 'cancelled' })
  })

  it('ends a worker that ignores cancel once the grace period is over', async () => {
    const { job, ends, onEnd } = startJob({ start: { type: 'stubborn' }, graceMs: 30 })
    job.cancel()
    expect(await ends.next()).toEqual({ ok: false, error: 'The test job did not stop within 0.03 s of being cancelled.', cancelTimedOut: true })
    expect(onEnd).toHaveBeenCalledTimes(1)
  })

  it('reports nothing for a job abandoned or ended by closing the host', async () => {
    const abandoned = startJob({ start: { type: 'stubborn' } })
    await abandoned.job.abandon()
    const closed = host.job<ToHostTestWorker, Reply, string>('test', {
      label: 'x', unavailable: 'x', receives: FromHostTestWorker, start: { type: 'stubborn' }, onMessage: () => {}, onEnd: abandoned.onEnd,
    })
    closed.send({ type: 'say', text: 'still alive' })
    await logged('still alive')
    await host.close()
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(abandoned.onEnd).not.toHaveBeenCalled()
  })

  it('refuses to start when this process has no such worker', () => {
    openHost()
    expect(() =>
      host.job('missing', { label: 'x', unavailable: 'Training is not available in this process.', receives: FromHostTestWorker, start: {}, onMessage: () => {}, onEnd: () => {} }),
    ).toThrow('Training is not available in this process.')
  })
})
