import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { ensureWritableFolder, UnusableFolderError } from '../../../src-main/base/writable-folder'
import { mountSmallDisk, type SmallDisk } from '../../fixtures/small-disk'

const root = mkdtempSync(join(tmpdir(), 'writable-folder-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

let disk: SmallDisk | undefined
afterEach(() => {
  disk?.remove()
  disk = undefined
})

/** The error ensureWritableFolder threw, so its message and path can be checked. */
function refusal(path: string, flag = '--data-dir'): UnusableFolderError {
  try {
    ensureWritableFolder(path, flag)
  } catch (error) {
    expect(error).toBeInstanceOf(UnusableFolderError)
    return error as UnusableFolderError
  }
  throw new Error(`${path} was accepted`)
}

describe('ensureWritableFolder', () => {
  it('creates a missing folder and its missing parents, and returns its absolute path', () => {
    const target = join(root, 'made', 'deep', 'er')
    expect(ensureWritableFolder(target, '--data-dir')).toBe(resolve(target))
    expect(readdirSync(join(root, 'made', 'deep'))).toEqual(['er'])
  })

  it('with keepCreated: false, checks a missing folder and removes the levels it made', () => {
    const target = join(root, 'probe-only', 'deep')
    expect(ensureWritableFolder(target, '--out', { keepCreated: false })).toBe(resolve(target))
    expect(existsSync(join(root, 'probe-only'))).toBe(false)
  })

  it('accepts an existing folder and leaves nothing behind in it', () => {
    const target = join(root, 'existing')
    mkdirSync(target)
    expect(ensureWritableFolder(target, '--data-dir')).toBe(target)
    expect(readdirSync(target)).toEqual([])
  })

  it('refuses a file, naming the flag and the path', () => {
    const file = join(root, 'a-file')
    writeFileSync(file, 'x')
    const error = refusal(file)
    expect(error.message).toBe(`--data-dir ${file} is a file, not a folder.`)
    expect(error.path).toBe(file)
  })

  it('refuses a folder under a file, naming the file, and creates nothing', () => {
    const file = join(root, 'another-file')
    writeFileSync(file, 'x')
    expect(refusal(join(file, 'sub', 'dir')).message).toBe(`--data-dir ${join(file, 'sub', 'dir')} cannot be created: ${file} is a file, not a folder.`)
  })

  it('refuses a place that takes no new files (/proc) at once instead of retrying for ever', () => {
    expect(refusal('/proc/sorted-studio-data', '--out').message).toBe(
      '--out /proc/sorted-studio-data cannot be created: /proc does not accept new files (ENOENT).',
    )
    expect(existsSync('/proc/sorted-studio-data')).toBe(false)
  })

  it('refuses a read-only folder, and a folder to be made in one, before creating anything', () => {
    disk = mountSmallDisk({ readOnly: true })
    expect(refusal(disk.dir).message).toBe(`--data-dir ${disk.dir} is not writable: read-only file system (EROFS).`)
    expect(refusal(join(disk.dir, 'new', 'data')).message).toBe(
      `--data-dir ${join(disk.dir, 'new', 'data')} cannot be created: ${disk.dir} is not writable: read-only file system (EROFS).`,
    )
  })
})
