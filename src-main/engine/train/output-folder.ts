/**
 * The folders a run writes (the tuned model, and its checkpoints beside it),
 * checked before anything is loaded or trained: a file where a folder should
 * be, or a place the file system will not create folders in (/proc, a
 * read-only mount), is refused at once with the path and the reason.
 *
 * The check creates the checkpoint folder one level at a time, never with
 * mkdirSync's `recursive`: on a file system that answers ENOENT for a folder
 * whose parent exists (/proc), Node's recursive mkdir retries forever at
 * full CPU, deaf to SIGTERM. Then it writes a file there, and removes all it
 * made: a refused run leaves nothing behind.
 */
import { existsSync, mkdirSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { TuneSetupError } from './errors'

function isDirectory(path: string): boolean | undefined {
  try {
    return statSync(path).isDirectory()
  } catch {
    return undefined
  }
}

/** Creates `folder` and any missing parents, one mkdir each, and returns those it made; a TuneSetupError naming `label` when one fails. */
function createFolder(folder: string, label: string): string[] {
  const missing: string[] = []
  let at = folder
  for (; isDirectory(at) === undefined; at = dirname(at)) {
    if (dirname(at) === at) break
    missing.unshift(at)
  }
  if (isDirectory(at) === false) throw new TuneSetupError(`${label}: ${at} is a file, not a folder.`, ['outDir'])
  const made: string[] = []
  for (const path of missing) {
    try {
      mkdirSync(path)
      made.push(path)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'EEXIST' && isDirectory(path)) continue
      removeFolders(made)
      throw new TuneSetupError(`${label}: cannot create the folder ${path} (${code ?? (error as Error).message}); choose a folder you can write to.`, ['outDir'])
    }
  }
  return made
}

/** Removes folders this check made, deepest first (they are empty). */
function removeFolders(made: string[]): void {
  for (const path of [...made].reverse()) rmdirSync(path)
}

/** The output folder must be a folder (or absent), and the checkpoint folder beside it creatable and writable. */
export function prepareOutputFolders(out: string, checkpointDir: string, label: string): void {
  if (existsSync(out) && !isDirectory(out)) throw new TuneSetupError(`${label}: ${out} is a file; give a folder for the tuned model.`, ['outDir'])
  if (existsSync(checkpointDir) && !isDirectory(checkpointDir)) {
    throw new TuneSetupError(`${label}: ${checkpointDir} (where the checkpoints go) is a file; move it, or choose another folder.`, ['outDir'])
  }
  const made = createFolder(checkpointDir, label)
  // Writing a file is the only sure test (permissions, read-only mounts, root's exemptions).
  const probe = `${checkpointDir}/.write-test-${process.pid}`
  try {
    writeFileSync(probe, '')
    rmSync(probe, { force: true })
  } catch (error) {
    throw new TuneSetupError(`${label}: cannot write in ${checkpointDir} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); choose a folder you can write to.`, ['outDir'])
  } finally {
    removeFolders(made)
  }
}
