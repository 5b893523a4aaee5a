/**
 * The folders a run writes (the tuned model, and its checkpoints beside it),
 * checked before anything is loaded or trained: a file where a folder should
 * be, or a place the file system will not create folders in (/proc, a
 * read-only mount), is refused at once with the path and the reason. The
 * check leaves nothing behind: the folders are made when the run writes.
 */
import { existsSync, statSync } from 'node:fs'
import { ensureWritableFolder, UnusableFolderError } from '../../base/writable-folder'
import { TuneSetupError } from './errors'

const isFile = (path: string): boolean => existsSync(path) && !statSync(path).isDirectory()

/** The output folder must be a folder (or absent), and the checkpoint folder beside it creatable and writable. */
export function prepareOutputFolders(out: string, checkpointDir: string, label: string): void {
  if (isFile(out)) throw new TuneSetupError(`${label}: ${out} is a file; give a folder for the tuned model.`, ['outDir'])
  if (isFile(checkpointDir)) {
    throw new TuneSetupError(`${label}: ${checkpointDir} (where the checkpoints go) is a file; move it, or choose another folder.`, ['outDir'])
  }
  try {
    ensureWritableFolder(checkpointDir, `${label}: the checkpoint folder`, { keepCreated: false })
  } catch (error) {
    if (error instanceof UnusableFolderError) throw new TuneSetupError(error.message, ['outDir'])
    throw error
  }
}
