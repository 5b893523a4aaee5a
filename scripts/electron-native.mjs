// better-sqlite3 is a native addon built for Node's ABI; Electron has its own.
// Instead of rebuilding it in place (which would break the CLI and tests on
// plain Node), this builds an Electron-ABI copy into node_modules/.cache and
// the app loads it through better-sqlite3's `nativeBinding` option.
// Needs internet (prebuilt binary or Electron headers), as Electron itself does.
import { spawnSync } from 'node:child_process'
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, sep } from 'node:path'
import { root } from './build-state.mjs'

function run(command, args, cwd) {
  return spawnSync(command, args, { cwd, stdio: 'inherit', shell: process.platform === 'win32' }).status === 0
}

export function ensureElectronSqlite(electronVersion) {
  const target = join(root, 'node_modules/.cache/electron-native', `${electronVersion}-${process.platform}-${process.arch}`, 'better_sqlite3.node')
  if (existsSync(target)) return target
  console.error(`Preparing the SQLite addon for Electron ${electronVersion} (once)…`)
  const work = mkdtempSync(join(tmpdir(), 'sorted-sqlite-'))
  try {
    const pkg = join(work, 'better-sqlite3')
    const source = join(root, 'node_modules/better-sqlite3')
    // Leave out the Node-ABI build so the Electron one cannot be confused with it.
    const nodeBuild = join(source, 'build')
    cpSync(source, pkg, { recursive: true, filter: (src) => src !== nodeBuild && !src.startsWith(nodeBuild + sep) })
    const prebuild = join(root, 'node_modules/prebuild-install/bin.js')
    const ok =
      (existsSync(prebuild) &&
        run(process.execPath, [prebuild, '--runtime', 'electron', '--target', electronVersion, '--arch', process.arch], pkg)) ||
      run('npm', ['exec', '--yes', '--', 'node-gyp', 'rebuild', '--release', '--runtime=electron', `--target=${electronVersion}`, '--dist-url=https://electronjs.org/headers'], pkg)
    if (!ok) throw new Error(`Could not build better-sqlite3 for Electron ${electronVersion}.`)
    mkdirSync(join(target, '..'), { recursive: true })
    copyFileSync(join(pkg, 'build/Release/better_sqlite3.node'), target)
    return target
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}
