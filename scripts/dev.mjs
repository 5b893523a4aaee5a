// `npm run dev`: Electron with hot reload (electron-vite dev) where Electron
// runs; otherwise browser mode with the renderer on Vite's dev server.
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { root } from './build-state.mjs'
import { findElectron } from './electron-binary.mjs'
import { ensureElectronSqlite } from './electron-native.mjs'

const electron = findElectron()
let command
let env = process.env
if (electron.ok) {
  env = { ...process.env, SORTED_SQLITE_BINDING: ensureElectronSqlite(electron.version) }
  command = [join(root, 'node_modules/electron-vite/bin/electron-vite.js'), 'dev']
} else {
  console.error(`Electron is not available: ${electron.reason}. Starting browser mode with hot reload.`)
  command = ['--import', 'tsx', join(root, 'scripts/dev-browser.ts'), ...process.argv.slice(2)]
}
const child = spawn(process.execPath, command, { cwd: root, env, stdio: 'inherit' })
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal))
child.on('exit', (code) => process.exit(code ?? 1))
