// Electron's TypeScript definitions ship inside the `electron` package. Where
// its binary download fails (no internet beyond the npm registry), npm drops
// that optional package, and with it the types. This script then fetches the
// same version's tarball from the npm registry (no binary: install scripts do
// not run for `npm pack`) and keeps only electron.d.ts, which
// tsconfig.node.json falls back to. Nothing happens when electron is installed.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { lockedElectronVersion, root } from './build-state.mjs'

const installed = join(root, 'node_modules/electron/electron.d.ts')
const cacheDir = join(root, 'node_modules/.cache/electron-types')
const cached = join(cacheDir, 'electron.d.ts')
const stamp = join(cacheDir, 'version')

if (existsSync(installed)) process.exit(0)

const version = lockedElectronVersion()
if (!version) {
  console.error('electron-types: package-lock.json does not pin electron; cannot type-check src-main/app.')
  process.exit(1)
}
if (existsSync(cached) && existsSync(stamp) && readFileSync(stamp, 'utf8') === version) process.exit(0)

const work = mkdtempSync(join(tmpdir(), 'electron-types-'))
try {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  const tarball = execFileSync(npm, ['pack', `electron@${version}`, '--silent', '--pack-destination', work], {
    cwd: work,
    encoding: 'utf8',
    shell: process.platform === 'win32',
  })
    .trim()
    .split('\n')
    .pop()
  execFileSync('tar', ['-xzf', join(work, tarball), '-C', work, 'package/electron.d.ts'])
  mkdirSync(cacheDir, { recursive: true })
  renameSync(join(work, 'package/electron.d.ts'), cached)
  writeFileSync(stamp, version)
  console.error(`electron-types: using electron@${version} type definitions from the npm registry (the binary is not installed).`)
} finally {
  rmSync(work, { recursive: true, force: true })
}
