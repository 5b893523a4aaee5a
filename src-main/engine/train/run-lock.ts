/**
 * One run per folder. A tune job holds `run.lock` in its checkpoint folder
 * for as long as it runs, so that a second job on the same --out (another
 * `sorted tune`, a `--resume`, or the app) is refused at once, naming the
 * holder, instead of interleaving checkpoints with the first and failing
 * at export.
 *
 * The lock file is written whole and then hard-linked into place: link()
 * fails when the name exists (as O_EXCL does) and, unlike open + write, never
 * shows a half-written holder to a process that looks in between. Where the
 * file system has no hard links, an O_EXCL create is used instead.
 *
 * A holder that died without releasing (SIGKILL, a power cut) leaves its
 * lock behind; the next job takes it over when the holder's process is gone
 * from this host, and says so. Holders on another host cannot be checked
 * and are honoured.
 *
 * Why not proper-lockfile: it judges a lock stale by an mtime refreshed on
 * a timer, and a training step blocks its thread for as long as the step
 * takes (minutes on a large model): a live run would look dead and be taken
 * over. A holder's pid does not go stale while it trains.
 */
import { randomUUID } from 'node:crypto'
import { linkSync, mkdirSync, readFileSync, renameSync, rmdirSync, unlinkSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { threadId } from 'node:worker_threads'
import { z } from 'zod'
import { TrainingError } from './errors'

export const runLockFile = 'run.lock'

const Holder = z.object({
  /** Who holds the folder, as a second run is told: `sorted tune` or `Sorted Studio app`. */
  who: z.string(),
  pid: z.number().int(),
  hostname: z.string(),
  /** The worker thread of `pid` that runs the job (0: the main thread). */
  threadId: z.number().int(),
  startedAt: z.string(),
  /** This acquisition's own mark: a release removes the lock only while it is still the one it wrote. */
  token: z.string(),
})
export type RunLockHolder = z.infer<typeof Holder>

/** The run folder is held by a job that is still running. */
export class RunFolderBusyError extends TrainingError {
  constructor(
    message: string,
    readonly holder: RunLockHolder,
  ) {
    super(message)
  }
}

export interface RunLock {
  readonly holder: RunLockHolder
  /** Removes the lock (when it is still ours) and the folders the lock made, if they are empty. Idempotent. */
  release(): void
}

export interface AcquireOptions {
  who: string
  /** How the folder is named to the user: `--out /x` (CLI), `outDir /x` (app). */
  label: string
  log?: (message: string) => void
}

const processStartedAt = Date.now() - process.uptime() * 1000

/** Whether process `pid` exists (EPERM: it does, under another user). */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Whether a holder may still be running. Its own process's pid is alive by
 * definition, so a lock naming this pid but older than this process was left
 * by a dead process whose pid came round again.
 */
function mayBeRunning(holder: RunLockHolder): boolean {
  if (holder.hostname !== hostname()) return true
  if (holder.pid === process.pid) return Date.parse(holder.startedAt) >= processStartedAt
  return pidAlive(holder.pid)
}

/** `12:01` today, `2025-03-04 12:01` before. */
function since(startedAt: string): string {
  const at = new Date(startedAt)
  if (Number.isNaN(at.getTime())) return startedAt
  const pad = (n: number) => String(n).padStart(2, '0')
  const time = `${pad(at.getHours())}:${pad(at.getMinutes())}`
  return at.toDateString() === new Date().toDateString() ? time : `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())} ${time}`
}

/** `--out /x is in use by sorted tune (pid 1234, since 12:01); wait for it or stop it.` */
export function busyMessage(label: string, holder: RunLockHolder): string {
  const where = holder.hostname === hostname() ? '' : ` on ${holder.hostname}`
  return `${label} is in use by ${holder.who} (pid ${holder.pid}${where}, since ${since(holder.startedAt)}); wait for it or stop it.`
}

type Seen = { kind: 'none' } | { kind: 'holder'; holder: RunLockHolder; raw: string } | { kind: 'unreadable'; raw: string }

function look(lockPath: string): Seen {
  let raw: string
  try {
    raw = readFileSync(lockPath, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'none' }
    throw error
  }
  let json: unknown
  try {
    json = JSON.parse(raw)
  } catch {
    return { kind: 'unreadable', raw }
  }
  const parsed = Holder.safeParse(json)
  return parsed.success ? { kind: 'holder', holder: parsed.data, raw } : { kind: 'unreadable', raw }
}

/** The holder of a run folder that may still be running; undefined when the folder is free or its lock stale. */
export function runFolderHolder(checkpointDir: string): RunLockHolder | undefined {
  const seen = look(join(checkpointDir, runLockFile))
  return seen.kind === 'holder' && mayBeRunning(seen.holder) ? seen.holder : undefined
}

/** Creates the lock from `content`; false when a lock is already there. */
function create(lockPath: string, content: string, token: string): boolean {
  const written = `${lockPath}.${token}.new`
  writeFileSync(written, content, { flag: 'wx' })
  try {
    linkSync(written, lockPath)
    return true
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'EEXIST') return false
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw error
    // No hard links here (some network and FAT file systems): an exclusive create.
    try {
      writeFileSync(lockPath, content, { flag: 'wx' })
      return true
    } catch (fallback) {
      if ((fallback as NodeJS.ErrnoException).code === 'EEXIST') return false
      throw fallback
    }
  } finally {
    unlinkIfPresent(written)
  }
}

/**
 * Removes the stale lock that was seen as `raw`, and only that one: the lock
 * is moved aside first and checked, and put back if another job replaced the
 * stale one in the meantime.
 */
function removeStale(lockPath: string, raw: string, token: string): void {
  const aside = `${lockPath}.${token}.stale`
  try {
    renameSync(lockPath, aside)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return
    throw error
  }
  if (readFileSync(aside, 'utf8') !== raw) {
    try {
      linkSync(aside, lockPath)
    } catch {
      // A third job has locked the folder since: its lock stands.
    }
  }
  unlinkIfPresent(aside)
}

function unlinkIfPresent(path: string): void {
  try {
    unlinkSync(path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
}

/** Removes the folders from `folder` up to `top` that are empty (those the lock made). */
function removeEmptyFolders(folder: string, top: string): void {
  for (let at = folder; ; at = dirname(at)) {
    try {
      rmdirSync(at)
    } catch {
      return
    }
    if (at === top || relative(top, at).startsWith('..')) return
  }
}

/**
 * Takes the run folder for this job, creating the checkpoint folder if need
 * be; a RunFolderBusyError naming the holder when another job has it.
 */
export function acquireRunLock(checkpointDir: string, options: AcquireOptions): RunLock {
  const made = mkdirSync(checkpointDir, { recursive: true })
  const lockPath = join(checkpointDir, runLockFile)
  const token = randomUUID()
  const holder: RunLockHolder = { who: options.who, pid: process.pid, hostname: hostname(), threadId, startedAt: new Date().toISOString(), token }
  const content = `${JSON.stringify(holder)}\n`
  // Three tries: a stale lock taken over, then at most one race with another job doing the same.
  for (let attempt = 0; attempt < 3; attempt++) {
    if (create(lockPath, content, token)) return held(lockPath, holder, made)
    const seen = look(lockPath)
    if (seen.kind === 'none') continue
    if (seen.kind === 'holder' && mayBeRunning(seen.holder)) throw new RunFolderBusyError(busyMessage(options.label, seen.holder), seen.holder)
    const was = seen.kind === 'holder' ? `${seen.holder.who} (pid ${seen.holder.pid}, since ${since(seen.holder.startedAt)}), which is no longer running` : 'a holder it does not name'
    options.log?.(`warning: taking over ${lockPath}, left by ${was}`)
    removeStale(lockPath, seen.raw, token)
  }
  const now = look(lockPath)
  if (now.kind === 'holder') throw new RunFolderBusyError(busyMessage(options.label, now.holder), now.holder)
  throw new TrainingError(`${options.label}: could not lock ${lockPath}; another job keeps replacing it.`)
}

function held(lockPath: string, holder: RunLockHolder, made: string | undefined): RunLock {
  let released = false
  const release = () => {
    if (released) return
    released = true
    process.off('exit', release)
    const seen = look(lockPath)
    if (seen.kind === 'holder' && seen.holder.token === holder.token) unlinkIfPresent(lockPath)
    if (made) removeEmptyFolders(dirname(lockPath), made)
  }
  // An exiting process lets go of its folder; only a killed one leaves the lock for the next job to take over.
  process.on('exit', release)
  return { holder, release }
}

/**
 * Releases a lock left by a job that ran in `threadId` of this process, once
 * that thread is gone (a worker that crashed or was terminated never ran its
 * own release). Any other holder's lock is left alone.
 */
export function releaseThreadLock(checkpointDir: string, deadThreadId: number): void {
  const lockPath = join(checkpointDir, runLockFile)
  const seen = look(lockPath)
  if (seen.kind !== 'holder') return
  const { holder } = seen
  if (holder.pid !== process.pid || holder.hostname !== hostname() || holder.threadId !== deadThreadId) return
  removeStale(lockPath, seen.raw, randomUUID())
}
