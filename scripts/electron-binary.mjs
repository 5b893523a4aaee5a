// Finds a usable Electron binary, or says why there is none.
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { root } from './build-state.mjs'

export function findElectron() {
  let binary
  try {
    binary = createRequire(join(root, 'package.json'))('electron')
  } catch (error) {
    if (error.code === 'MODULE_NOT_FOUND') {
      return { ok: false, reason: 'the optional "electron" package is not installed (npm drops it when its binary download fails)' }
    }
    return { ok: false, reason: `the Electron package is broken: ${error.message}` }
  }
  if (typeof binary !== 'string' || !existsSync(binary)) return { ok: false, reason: `the Electron binary (${binary}) is missing` }
  if (process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) {
    return { ok: false, reason: 'there is no display ($DISPLAY and $WAYLAND_DISPLAY are unset)' }
  }
  const version = JSON.parse(readFileSync(join(root, 'node_modules/electron/package.json'), 'utf8')).version
  return { ok: true, binary, version }
}
