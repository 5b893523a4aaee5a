import { homedir } from 'node:os'
import { join, resolve } from 'node:path'

/** The product name doubles as the folder name, matching Electron's userData. */
export const appFolderName = 'Sorted Studio'

/**
 * Where the database and model cache live: an explicit `--data-dir`, else
 * `SORTED_STUDIO_HOME`, else the OS user-data folder (the same one Electron's
 * `app.getPath('userData')` gives, so the desktop app and the CLI share data).
 */
export function resolveDataDir(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (explicit) return resolve(explicit)
  if (env.SORTED_STUDIO_HOME) return resolve(env.SORTED_STUDIO_HOME)
  return join(osUserDataRoot(env), appFolderName)
}

/** How the user named the data folder, for messages about it: the flag, the variable, or neither. */
export function dataDirName(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (explicit) return '--data-dir'
  if (env.SORTED_STUDIO_HOME) return 'SORTED_STUDIO_HOME'
  return 'The data folder'
}

function osUserDataRoot(env: NodeJS.ProcessEnv): string {
  switch (process.platform) {
    case 'win32':
      return env.APPDATA ?? join(homedir(), 'AppData', 'Roaming')
    case 'darwin':
      return join(homedir(), 'Library', 'Application Support')
    default:
      return env.XDG_CONFIG_HOME ?? join(homedir(), '.config')
  }
}

export function databasePath(dataDir: string): string {
  return join(dataDir, 'sorted.db')
}
