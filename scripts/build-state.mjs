// Shared by start/dev: is the build in out/ older than its sources?
import { existsSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'

export const root = new URL('..', import.meta.url).pathname
const stampFile = join(root, 'out/.build-stamp')
const inputs = ['src-main', 'src-renderer', 'resources', 'package.json', 'electron.vite.config.ts']

function newestMtime(path) {
  if (!existsSync(path)) return 0
  const stat = statSync(path)
  if (!stat.isDirectory()) return stat.mtimeMs
  let newest = stat.mtimeMs
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)))
  return newest
}

export function buildIsStale() {
  if (!existsSync(stampFile)) return true
  const built = statSync(stampFile).mtimeMs
  return inputs.some((input) => newestMtime(join(root, input)) > built)
}

/** The Electron version package-lock.json pins, whether or not npm could install it. */
export function lockedElectronVersion() {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'))
  return lock.packages?.['node_modules/electron']?.version
}

/** Runs `electron-vite build` and records when, so the next start can skip it. */
export function build() {
  const started = Date.now()
  const result = spawnSync(process.execPath, [join(root, 'node_modules/electron-vite/bin/electron-vite.js'), 'build'], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
    // electron-vite picks its output target from Electron's major version and
    // reads it from the installed package; where npm dropped that optional
    // package, tell it the pinned one.
    env: existsSync(join(root, 'node_modules/electron/package.json'))
      ? process.env
      : { ...process.env, ELECTRON_MAJOR_VER: String(lockedElectronVersion()).split('.')[0] },
  })
  if (result.status !== 0) throw new Error('The build failed (see above).')
  // The stamp carries the build's start time: a source saved during the
  // build is newer than it, so the next start rebuilds.
  writeFileSync(stampFile, new Date(started).toISOString())
  utimesSync(stampFile, new Date(started), new Date(started))
}
