/**
 * A full disk, for real (a tiny tmpfs, see tests/fixtures/small-disk.ts):
 * every write either stores its change or throws StoreDiskFullError naming
 * the database file, and never reports success while storing nothing.
 */
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import { openStore, StoreDiskFullError, type Store } from '../../../src-main/store'
import { mountSmallDisk, type SmallDisk } from '../../fixtures/small-disk'
import { addModel } from './helpers'

const disks: SmallDisk[] = []
const stores: Store[] = []

afterEach(() => {
  try {
    for (const store of stores.splice(0)) store.close()
  } finally {
    for (const disk of disks.splice(0)) disk.remove()
  }
})

function diskAndStore(): { disk: SmallDisk; path: string; store: Store } {
  const disk = mountSmallDisk()
  disks.push(disk)
  const path = join(disk.dir, 'sorted.db')
  return { disk, path, store: track(openStore(path)) }
}

function track(store: Store): Store {
  stores.push(store)
  return store
}

function close(store: Store): void {
  stores.splice(stores.indexOf(store), 1)
  store.close()
}

/**
 * Every row of every app table, read through a second connection as another
 * process would see the file (SQLite's own sqlite_stat tables, which closing
 * refreshes, are left out).
 */
function contents(path: string): Record<string, string[]> {
  const db = new Database(path, { readonly: true })
  try {
    const tables = db.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name").all()
    return Object.fromEntries(tables.map(({ name }) => [name, db.prepare(`SELECT * FROM "${name}"`).all().map((row) => JSON.stringify(row)).sort()]))
  } finally {
    db.close()
  }
}

function integrity(path: string): unknown {
  const db = new Database(path, { readonly: true })
  try {
    return db.pragma('integrity_check', { simple: true })
  } finally {
    db.close()
  }
}

/** Large enough that a write needs fresh pages, whatever room the last page had. */
const long = 'x'.repeat(20_000)

/** Records every kind of row once, so each write below has something to act on. */
function seed(store: Store) {
  const model = addModel(store)
  const dataset = store.datasets.add({ name: 'Corpus', format: 'jsonl', path: '/data/corpus.jsonl', recordCount: 10 })
  const run = (status: 'pending' | 'running' | 'failed') => {
    const r = store.runs.create({ modelId: model.id, mode: 'soft', config: {}, totalSteps: 10 })
    if (status !== 'pending') store.runs.start(r.id)
    if (status === 'failed') store.runs.fail(r.id, 'boom')
    return r
  }
  const runs = { pending: run('pending'), running: run('running'), failed: run('failed') }
  const chat = store.chats.create({ title: 'Kept' })
  store.chats.appendMessage(chat.id, { role: 'user', content: 'Hello' })
  store.chats.appendMessage(chat.id, { role: 'assistant', content: 'Hi!' })
  const set = store.evals.importSet('Set', 'alpaca-json', [{ instruction: 'Say hi.' }])
  const item = store.evals.items(set.id)[0]!
  const a = store.evals.recordGeneration({ evalItemId: item.id, modelId: model.id, exit: 2, decoding: {}, output: 'hi' })
  const b = store.evals.recordGeneration({ evalItemId: item.id, modelId: model.id, exit: 4, decoding: {}, output: 'hello' })
  store.settings.set('theme', 'dark')
  return { model, dataset, runs, chat, set, item, a, b }
}

type Seeded = ReturnType<typeof seed>

/** Every write the store offers, each as a user action would call it. */
const writes: [string, (store: Store, s: Seeded) => unknown][] = [
  ['settings.set', (store) => store.settings.set('notes', long)],
  ['settings.setMany', (store) => store.settings.setMany({ notes: long, theme: 'light' })],
  ['models.add', (store) => addModel(store, { name: long })],
  ['models.put', (store) => store.models.put({ id: 'bundled:new', name: long, architecture: 'llama', path: '/m', source: 'bundled', numLayers: 8 })],
  ['models.updateExits', (store, s) => store.models.updateExits(s.model.id, [1, 2, 3, 4, 5, 6, 7, 8])],
  ['models.updateResults', (store, s) => store.models.updateResults(s.model.id, { note: long })],
  ['models.remove', (store, s) => store.models.remove(s.model.id)],
  ['datasets.add', (store) => store.datasets.add({ name: long, format: 'jsonl', path: '/d', recordCount: 1 })],
  ['datasets.remove', (store, s) => store.datasets.remove(s.dataset.id)],
  ['runs.create', (store, s) => store.runs.create({ modelId: s.model.id, mode: 'soft', config: { note: long }, totalSteps: 5 })],
  ['runs.start', (store, s) => store.runs.start(s.runs.pending.id)],
  ['runs.pause', (store, s) => store.runs.pause(s.runs.running.id)],
  ['runs.finish', (store, s) => store.runs.finish(s.runs.running.id)],
  ['runs.fail', (store, s) => store.runs.fail(s.runs.running.id, long)],
  ['runs.cancel', (store, s) => store.runs.cancel(s.runs.running.id)],
  ['runs.reopen', (store, s) => store.runs.reopen(s.runs.failed.id)],
  ['runs.planSteps', (store, s) => store.runs.planSteps(s.runs.pending.id, 99)],
  ['runs.recordMetrics', (store, s) => store.runs.recordMetrics(s.runs.running.id, [{ step: 1, exit: null, split: 'train', loss: 1.5 }])],
  ['runs.recordCheckpoint', (store, s) => store.runs.recordCheckpoint(s.runs.running.id, 3, long)],
  ['runs.remove', (store, s) => store.runs.remove(s.runs.failed.id)],
  ['chats.create', (store) => store.chats.create({ title: long })],
  ['chats.rename', (store, s) => store.chats.rename(s.chat.id, long)],
  ['chats.configure', (store, s) => store.chats.configure(s.chat.id, { systemPrompt: long })],
  ['chats.appendMessage', (store, s) => store.chats.appendMessage(s.chat.id, { role: 'user', content: long })],
  ['chats.truncate', (store, s) => store.chats.truncate(s.chat.id, 1)],
  ['chats.remove', (store, s) => store.chats.remove(s.chat.id)],
  ['evals.importSet', (store) => store.evals.importSet(long, 'alpaca-json', [{ instruction: long }])],
  ['evals.appendItem', (store, s) => store.evals.appendItem(s.set.id, { instruction: long })],
  ['evals.recordGeneration', (store, s) => store.evals.recordGeneration({ evalItemId: s.item.id, modelId: s.model.id, exit: 8, decoding: {}, output: long })],
  [
    'evals.recordComparison',
    (store, s) => store.evals.recordComparison({ generationAId: s.a.id, generationBId: s.b.id, judge: 'me', ab: { verdict: '1', reason: long }, ba: { verdict: '2' } }),
  ],
  ['evals.removeSet', (store, s) => store.evals.removeSet(s.set.id)],
  ['store.transaction', (store, s) => store.transaction(() => [store.chats.create({ title: 'one' }), store.chats.rename(s.chat.id, long)])],
]

describe('a full disk', () => {
  it.each(writes)('%s throws a disk-full error naming the database, and stores nothing', (_name, write) => {
    const { disk, path, store } = diskAndStore()
    const seeded = seed(store)
    const before = contents(path)

    disk.fill()
    let thrown: unknown
    try {
      write(store, seeded)
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(StoreDiskFullError)
    expect((thrown as StoreDiskFullError).path).toBe(path)
    expect((thrown as Error).message).toContain(path)
    expect((thrown as Error).message).toMatch(/disk .*full/i)

    // Space back: the same connection goes on working, and the file holds exactly what it held.
    disk.free()
    expect(store.chats.get(seeded.chat.id)?.title).toBe('Kept')
    close(store)
    expect(integrity(path)).toBe('ok')
    expect(contents(path)).toEqual(before)
  })

  it('lets the same write succeed once space is freed', () => {
    const { disk, path, store } = diskAndStore()
    disk.fill()
    expect(() => store.chats.create({ title: long })).toThrow(StoreDiskFullError)

    disk.free()
    const chat = store.chats.create({ title: 'After' })
    close(store)

    const reopened = track(openStore(path))
    expect(reopened.chats.list().map((c) => c.id)).toEqual([chat.id])
  })

  it('keeps what the WAL holds when closing cannot checkpoint it into the full disk', () => {
    const { disk, path, store } = diskAndStore()
    const chat = store.chats.create({ title: 'Long talk' })
    // Enough that folding the WAL into the database file needs fresh pages.
    for (let i = 0; i < 20; i++) store.chats.appendMessage(chat.id, { role: 'user', content: `${i} ${long}` })

    disk.fill()
    expect(() => close(store)).not.toThrow()

    disk.free()
    const reopened = track(openStore(path))
    expect(reopened.chats.messages(chat.id).map((m) => m.content.split(' ')[0])).toEqual(Array.from({ length: 20 }, (_, i) => String(i)))
    close(reopened)
    expect(integrity(path)).toBe('ok')
  })

  it('refuses to open an existing database with a disk-full error, and opens it intact once space is freed', () => {
    const { disk, path, store } = diskAndStore()
    const chat = store.chats.create({ title: 'Kept' })
    close(store)

    disk.fill()
    expect(() => track(openStore(path))).toThrow(StoreDiskFullError)

    disk.free()
    expect(track(openStore(path)).chats.get(chat.id)?.title).toBe('Kept')
  })

  it('refuses to create a database with a disk-full error', () => {
    const disk = mountSmallDisk()
    disks.push(disk)
    const path = join(disk.dir, 'new.db')
    disk.fill()

    expect(() => track(openStore(path))).toThrow(StoreDiskFullError)
    expect(() => track(openStore(path))).toThrow(path)
  })
})
