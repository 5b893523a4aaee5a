/**
 * What the UI hears when the data folder's disk is full: a `disk_full` error
 * naming the database file, never `ok` with nothing stored, and the backend
 * keeps serving once space is freed. A real full disk: a small tmpfs (root).
 */
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { openBackend, type Backend } from '../../../src-main/services/backend'
import { explainDiskFull } from '../../../src-main/services/disk-full'
import { callBackend } from '../../fixtures/backend'
import { mountSmallDisk, type SmallDisk } from '../../fixtures/small-disk'

let disk: SmallDisk | undefined
let backend: Backend | undefined

afterEach(async () => {
  try {
    await backend?.close()
  } finally {
    disk?.remove()
    backend = disk = undefined
  }
})

function openOnSmallDisk(log = vi.fn()): { backend: Backend; disk: SmallDisk; dbPath: string; log: typeof log } {
  disk = mountSmallDisk()
  const dataDir = join(disk.dir, 'data')
  backend = openBackend({ transport: 'browser', dataDir, log })
  return { backend, disk, dbPath: join(dataDir, 'sorted.db'), log }
}

describe('a full disk, as the UI sees it', () => {
  it('chats.create and chats.rename answer disk_full naming the database, and store nothing', async () => {
    const { backend, disk, dbPath, log } = openOnSmallDisk()
    const { chat } = await callBackend<{ chat: { id: string } }>(backend, 'chats.create', { title: 'Kept' })

    disk.fill()
    const created = await backend.dispatch('chats.create', { title: 'Lost?' })
    const renamed = await backend.dispatch('chats.rename', { chatId: chat.id, title: 'Renamed?' })

    for (const outcome of [created, renamed]) {
      expect(outcome.ok).toBe(false)
      if (outcome.ok) continue
      expect(outcome.error.code).toBe('disk_full')
      expect(outcome.error.message).toContain(dbPath)
      expect(outcome.error.message).toMatch(/disk is full/)
    }
    // Not a bug in the backend: nothing is logged as one.
    expect(log).not.toHaveBeenCalled()

    disk.free()
    const { chats } = await callBackend<{ chats: { id: string; title: string }[] }>(backend, 'chats.list')
    expect(chats.map((c) => c.title)).toEqual(['Kept'])
    await callBackend(backend, 'chats.rename', { chatId: chat.id, title: 'Renamed' })
    expect((await callBackend<{ chat: { title: string } }>(backend, 'chats.get', { chatId: chat.id })).chat.title).toBe('Renamed')
  })

  it('settings.update answers disk_full and keeps the stored settings', async () => {
    const { backend, disk, dbPath } = openOnSmallDisk()
    await callBackend(backend, 'settings.update', { theme: 'dark' })

    disk.fill()
    const outcome = await backend.dispatch('settings.update', { theme: 'light' })
    expect(outcome).toMatchObject({ ok: false, error: { code: 'disk_full', message: expect.stringContaining(dbPath) } })

    disk.free()
    expect(await callBackend(backend, 'settings.get')).toMatchObject({ theme: 'dark' })
  })
})

describe('explainDiskFull', () => {
  it('names the file a Node write could not finish', () => {
    const error = Object.assign(new Error('ENOSPC: no space left on device, open'), { code: 'ENOSPC', path: '/data/upload.jsonl' })
    expect(explainDiskFull(error)?.toData()).toEqual({ code: 'disk_full', message: 'The disk is full: could not write /data/upload.jsonl. Free some space and try again.' })
  })

  it('leaves other failures to be reported as bugs', () => {
    expect(explainDiskFull(new Error('boom'))).toBeUndefined()
    expect(explainDiskFull(Object.assign(new Error('EACCES'), { code: 'EACCES' }))).toBeUndefined()
    expect(explainDiskFull(undefined)).toBeUndefined()
  })
})
