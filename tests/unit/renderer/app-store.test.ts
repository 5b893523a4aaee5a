import { describe, expect, it } from 'vitest'
import type { AppInfo } from '../../../src-main/api/contract'
import { useAppStore } from '../../../src-renderer/src/stores/app'
import { FakeClient, piniaWith } from './fake-client'

const info: AppInfo = {
  name: 'Sorted Studio',
  version: '0.1.0',
  transport: 'browser',
  platform: 'linux',
  dataDir: '/tmp/sorted',
  databasePath: '/tmp/sorted/sorted.db',
  schemaVersion: 1,
  providers: [
    { id: 'cpu', label: 'CPU', available: true, note: '' },
    { id: 'cuda', label: 'CUDA', available: false, note: 'Run npm run setup:gpu to download the CUDA build.' },
  ],
}

describe('app store', () => {
  it('loads what app.info reports', async () => {
    piniaWith(new FakeClient().handle('app.info', () => info))
    const store = useAppStore()
    await store.load()
    expect(store.info).toEqual(info)
  })

  it('answers a file dialog with the chosen path, null when cancelled, and keeps why one failed', async () => {
    const client = new FakeClient().handle('app.pickFolder', (p) => ({ path: p.title === 'cancel' ? null : '/picked' }))
    piniaWith(client)
    const store = useAppStore()
    expect(await store.pickFolder('Choose')).toBe('/picked')
    expect(await store.pickFolder('cancel')).toBeNull()
    expect(store.dialogError).toBeNull()
    client.handle('app.pickFolder', () => {
      throw new Error('No window to attach the dialog to.')
    })
    expect(await store.pickFolder('Choose')).toBeNull()
    expect(store.dialogError).toBe('No window to attach the dialog to.')
  })
})
