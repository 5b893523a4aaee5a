import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { DivergedError, TuneSetupError } from '../../../../src-main/engine/train/errors'
import { acquireRunLock, releaseThreadLock, runFolderHolder, runLockFile, RunFolderBusyError } from '../../../../src-main/engine/train/run-lock'
import { checkpointDirOf, runTuneJob, type TuneRequest } from '../../../../src-main/engine/train/tune-job'
import { tuneJobFixture } from './tune-job-fixture'

const fixture = tuneJobFixture('run-lock-', { maxSteps: 3 })
const { request } = fixture
afterAll(() => fixture.remove())

const lockOf = (tune: TuneRequest) => join(checkpointDirOf(tune.outDir), runLockFile)
const asFlags = (setting: string) => (setting === 'outDir' ? '--out' : `--${setting}`)
/** The holder's start, as the message gives it: hh:mm today (with the date from the day before, should the test run across midnight). */
const clock = /(\d{4}-\d\d-\d\d )?\d\d:\d\d/.source

/** A pid no process has any more: a child that has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', ''])
  return child.pid!
}

function writeLock(tune: TuneRequest, holder: Record<string, unknown>): void {
  mkdirSync(checkpointDirOf(tune.outDir), { recursive: true })
  const at = new Date().toISOString()
  writeFileSync(lockOf(tune), JSON.stringify({ who: 'sorted tune', pid: process.pid, hostname: hostname(), threadId: 0, startedAt: at, token: 't', ...holder }))
}

describe('one run per folder', () => {
  it('refuses a second job on the folder at once, --resume included, naming the holder; the first finishes', async () => {
    const tune = request()
    const refusals: Promise<unknown>[] = []
    let settledByStep2 = 0
    let settled = 0
    const first = await runTuneJob(tune, {
      resume: false,
      who: 'sorted tune',
      hooks: {
        intraOpThreads: 1,
        onStep: ({ step }) => {
          if (step === 1) {
            for (const resume of [true, false]) {
              refusals.push(runTuneJob(tune, { resume, who: 'Sorted Studio app', name: asFlags, hooks: { intraOpThreads: 1 } }).then(() => undefined, (e: unknown) => e).finally(() => settled++))
            }
          }
          if (step === 2) settledByStep2 = settled
        },
      },
    })
    expect(first).toMatchObject({ finished: true, step: 3 })
    expect(settledByStep2).toBe(2)
    for (const error of await Promise.all(refusals)) {
      expect(error).toBeInstanceOf(RunFolderBusyError)
      expect((error as Error).message).toMatch(
        new RegExp(`^--out ${tune.outDir} is in use by sorted tune \\(pid ${process.pid}, since ${clock}\\); wait for it or stop it\\.$`),
      )
    }
    expect(existsSync(join(tune.outDir, 'model.safetensors'))).toBe(true)
    expect(existsSync(lockOf(tune))).toBe(false)
  })

  it('takes over a lock left by a killed process, saying so', async () => {
    const tune = request()
    const pid = deadPid()
    writeLock(tune, { pid })
    const logs: string[] = []
    const outcome = await runTuneJob(tune, { resume: false, hooks: { intraOpThreads: 1, log: (m) => logs.push(m) } })
    expect(outcome).toMatchObject({ finished: true, step: 3 })
    expect(logs).toContainEqual(expect.stringMatching(new RegExp(`^warning: taking over ${lockOf(tune)}, left by sorted tune \\(pid ${pid}, since ${clock}\\), which is no longer running$`)))
    expect(existsSync(lockOf(tune))).toBe(false)
  })

  it('takes over a lock of this very pid written before this process started (the pid came round again)', () => {
    const tune = request()
    writeLock(tune, { startedAt: '2001-01-01T00:00:00.000Z' })
    expect(runFolderHolder(checkpointDirOf(tune.outDir))).toBeUndefined()
    acquireRunLock(checkpointDirOf(tune.outDir), { who: 'sorted tune', label: 'x' }).release()
  })

  it('honours a holder on another host, which it cannot check, naming the host', () => {
    const tune = request()
    writeLock(tune, { pid: deadPid(), hostname: 'elsewhere.example' })
    expect(() => acquireRunLock(checkpointDirOf(tune.outDir), { who: 'sorted tune', label: `--out ${tune.outDir}` })).toThrow(
      new RegExp(`^--out ${tune.outDir} is in use by sorted tune \\(pid \\d+ on elsewhere\\.example, since ${clock}\\); wait for it or stop it\\.$`),
    )
  })

  it('lets go of the folder when the job fails, is cancelled or is refused', async () => {
    const diverging = request({ lr: 1e300, warmup: 1, maxSteps: 4 })
    await expect(runTuneJob(diverging, { resume: false, hooks: { intraOpThreads: 1 } })).rejects.toBeInstanceOf(DivergedError)
    expect(existsSync(lockOf(diverging))).toBe(false)

    const cancelled = request({ maxSteps: 4 })
    const controller = new AbortController()
    const stopped = await runTuneJob(cancelled, { resume: false, signal: controller.signal, hooks: { intraOpThreads: 1, onStep: ({ step }) => step === 1 && controller.abort() } })
    expect(stopped).toMatchObject({ finished: false, step: 1 })
    expect(existsSync(lockOf(cancelled))).toBe(false)
    expect(await runTuneJob(cancelled, { resume: true, hooks: { intraOpThreads: 1 } })).toMatchObject({ finished: true, step: 4 })

    const refused = request()
    mkdirSync(refused.outDir)
    writeFileSync(join(refused.outDir, 'x'), '')
    await expect(runTuneJob(refused, { resume: false, hooks: { intraOpThreads: 1 } })).rejects.toBeInstanceOf(TuneSetupError)
    // Nothing left behind: neither the lock nor the checkpoint folder it made.
    expect(existsSync(checkpointDirOf(refused.outDir))).toBe(false)
  })

  it('releases the lock of a worker thread that died holding it, and no other', () => {
    const tune = request()
    const dir = checkpointDirOf(tune.outDir)
    writeLock(tune, { threadId: 7 })
    releaseThreadLock(dir, 8)
    expect(runFolderHolder(dir)).toMatchObject({ threadId: 7 })
    releaseThreadLock(dir, 7)
    expect(runFolderHolder(dir)).toBeUndefined()
    expect(existsSync(lockOf(tune))).toBe(false)
  })
})
