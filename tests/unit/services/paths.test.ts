import { join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { appFolderName, dataDirName, databasePath, resolveDataDir } from '../../../src-main/services/paths'

describe('data folder', () => {
  it('prefers an explicit --data-dir, made absolute', () => {
    expect(resolveDataDir('rel/dir', { SORTED_STUDIO_HOME: '/env' })).toBe(resolve('rel/dir'))
  })

  it('uses SORTED_STUDIO_HOME when no folder is given', () => {
    expect(resolveDataDir(undefined, { SORTED_STUDIO_HOME: '/srv/sorted' })).toBe(resolve('/srv/sorted'))
  })

  it('falls back to the OS user-data folder under the product name', () => {
    const dir = resolveDataDir(undefined, { XDG_CONFIG_HOME: '/home/u/.config', APPDATA: 'C:\\Users\\u\\AppData\\Roaming' })
    expect(dir.endsWith(appFolderName)).toBe(true)
    if (process.platform === 'linux') expect(dir).toBe(join('/home/u/.config', appFolderName))
  })

  it('keeps the database inside the data folder', () => {
    expect(databasePath('/data')).toBe(join('/data', 'sorted.db'))
  })

  it('names the data folder in messages the way the user chose it', () => {
    expect(dataDirName('/d', { SORTED_STUDIO_HOME: '/env' })).toBe('--data-dir')
    expect(dataDirName(undefined, { SORTED_STUDIO_HOME: '/env' })).toBe('SORTED_STUDIO_HOME')
    expect(dataDirName(undefined, {})).toBe('The data folder')
  })
})
