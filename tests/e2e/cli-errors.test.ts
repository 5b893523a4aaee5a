/**
 * The CLI on an unusable data folder or a full disk: one line on stderr that
 * names the path, exit code 1, no stack trace (unless SORTED_DEBUG=1), and
 * never a hang. Each run is killed if it outlives its guard.
 */
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { repoRoot, type Finished } from './harness'
import { mountSmallDisk, type SmallDisk } from '../fixtures/small-disk'

const root = mkdtempSync(join(tmpdir(), 'sorted-cli-errors-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

let disk: SmallDisk | undefined
afterEach(() => {
  disk?.remove()
  disk = undefined
})

/** A hang guard, not a speed check: far above the second or so a refusal takes. */
const guardMs = 30_000

/** Runs `sorted ARGS` to the end; a run still going after the guard is killed and reported as hung. */
function finishOrKill(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Finished & { hung: boolean }> {
  const child = spawn(process.execPath, [join(repoRoot, 'bin', 'sorted.mjs'), ...args], {
    cwd: repoRoot,
    env: { ...process.env, SORTED_DEBUG: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  let hung = false
  child.stdout.on('data', (c) => (stdout += c))
  child.stderr.on('data', (c) => (stderr += c))
  const guard = setTimeout(() => {
    hung = true
    child.kill('SIGKILL')
  }, guardMs)
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(guard)
      resolve({ code, stdout, stderr, hung })
    }),
  )
}

function expectOneLine(result: Finished & { hung: boolean }, line: string | RegExp): void {
  expect(result.hung).toBe(false)
  expect(result.code).toBe(1)
  expect(result.stderr).not.toMatch(/^\s+at /m)
  expect(result.stderr.trimEnd().split('\n')).toHaveLength(1)
  expect(result.stderr.trimEnd()).toMatch(line)
}

describe('sorted serve on an unusable data folder', () => {
  it('refuses a file given as --data-dir in one line', async () => {
    const file = join(root, 'not-a-folder')
    writeFileSync(file, 'x')
    expectOneLine(await finishOrKill(['serve', '--data-dir', file]), `sorted serve: --data-dir ${file} is a file, not a folder.`)
  })

  it('refuses a --data-dir under /proc at once instead of spinning in mkdir', async () => {
    const result = await finishOrKill(['serve', '--data-dir', '/proc/sorted-studio-data'])
    expectOneLine(result, 'sorted serve: --data-dir /proc/sorted-studio-data cannot be created: /proc does not accept new files (ENOENT).')
  })

  it('names SORTED_STUDIO_HOME when that is where the unusable folder came from', async () => {
    const file = join(root, 'home-file')
    writeFileSync(file, 'x')
    expectOneLine(await finishOrKill(['serve'], { SORTED_STUDIO_HOME: file }), `sorted serve: SORTED_STUDIO_HOME ${file} is a file, not a folder.`)
  })

  it('refuses a data folder whose database is not a file, naming it', async () => {
    const dataDir = join(root, 'db-is-a-folder')
    mkdirSync(join(dataDir, 'sorted.db'), { recursive: true })
    expectOneLine(await finishOrKill(['serve', '--data-dir', dataDir]), new RegExp(`^sorted serve: Cannot open the database ${join(dataDir, 'sorted.db')}: `))
  })

  it('says the disk is full, naming the database, when it has no room for it', async () => {
    disk = mountSmallDisk()
    const dataDir = join(disk.dir, 'data')
    mkdirSync(dataDir)
    disk.fill()
    expectOneLine(await finishOrKill(['serve', '--data-dir', dataDir]), `sorted serve: Could not save to ${join(dataDir, 'sorted.db')}: the disk is full. Nothing was written; free some space and try again.`)
  })

  it('adds the stack trace only with SORTED_DEBUG=1', async () => {
    const file = join(root, 'debug-file')
    writeFileSync(file, 'x')
    const result = await finishOrKill(['serve', '--data-dir', file], { SORTED_DEBUG: '1' })
    expect(result.code).toBe(1)
    expect(result.stderr.split('\n')[0]).toBe(`sorted serve: --data-dir ${file} is a file, not a folder.`)
    expect(result.stderr).toMatch(/^\s+at ensureWritableFolder/m)
  })
})

describe('sorted eval on an unusable data folder', () => {
  it('refuses a --data-dir under /proc at once instead of spinning in mkdir', async () => {
    const result = await finishOrKill(['eval', '--data-dir', '/proc/sorted-studio-data', '--set', 'set.jsonl', '--a', 'a', '--b', 'b'])
    expectOneLine(result, 'sorted eval: --data-dir /proc/sorted-studio-data cannot be created: /proc does not accept new files (ENOENT).')
  })
})
