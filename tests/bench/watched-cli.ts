/**
 * The built CLI (`bin/sorted.mjs`) in a child whose peak resident memory is
 * read from /proc/<pid>/status (VmHWM) every 50 ms, and which is killed when
 * its resident memory passes `limitMb`: a bench that could exhaust a shared
 * machine stops itself first.
 */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))

function statusKb(pid: number, field: string): number | undefined {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${field}:`))
    return line ? Number(line.split(/\s+/)[1]) : undefined
  } catch {
    return undefined
  }
}

export interface WatchedRun {
  /** Peak RSS, MiB. */
  peakMb: number
  code: number | null
  /** Killed for passing the limit. */
  killed: boolean
  stdout: string
  stderr: string
  wallMs: number
}

export function runWatchedCli(args: string[], limitMb: number): Promise<WatchedRun> {
  return new Promise((resolve) => {
    const started = performance.now()
    const child = spawn(process.execPath, [join(root, 'bin/sorted.mjs'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let peakKb = 0
    let killed = false
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const watch = setInterval(() => {
      peakKb = Math.max(peakKb, statusKb(child.pid!, 'VmHWM') ?? 0)
      if ((statusKb(child.pid!, 'VmRSS') ?? 0) > limitMb * 1024) {
        killed = true
        child.kill('SIGKILL')
      }
    }, 50)
    child.on('exit', (code) => {
      clearInterval(watch)
      resolve({ peakMb: Math.round(peakKb / 1024), code, killed, stdout, stderr, wallMs: Math.round(performance.now() - started) })
    })
  })
}
