// `npm start`: build if the sources changed, then open the desktop app; where
// Electron cannot run, serve the same UI in browser mode and say why.
// Arguments after `--` go to `sorted serve` in browser mode (e.g. --port).
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { build, buildIsStale, root } from './build-state.mjs'
import { findElectron } from './electron-binary.mjs'
import { ensureElectronSqlite } from './electron-native.mjs'
import { glibcMallocTuning } from './malloc-tuning.mjs'

if (buildIsStale()) build()

// The app trains in its own process: glibc's allocator tuned for it (scripts/malloc-tuning.mjs).
const tuned = glibcMallocTuning()

function runChild(command, args, env = process.env) {
  const child = spawn(command, args, { cwd: root, stdio: 'inherit', env: { ...env, ...tuned } })
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal))
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)))
}

const electron = findElectron()
if (electron.ok) {
  const env = { ...process.env, SORTED_SQLITE_BINDING: ensureElectronSqlite(electron.version) }
  runChild(electron.binary, [root], env)
} else {
  console.error(`Electron is not available: ${electron.reason}.`)
  console.error('Starting Sorted Studio in browser mode instead: open the URL below in your browser.')
  runChild(process.execPath, [join(root, 'out/main/cli.js'), 'serve', ...process.argv.slice(2)])
}
