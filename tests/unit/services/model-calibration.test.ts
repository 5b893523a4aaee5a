/**
 * models.calibrate: an imported model's draft exits measured in an engine
 * worker of its own (progress as events), the fastest written into its
 * sorted.json and used by the next load; bundled models and folders that
 * cannot take the file are refused before anything runs.
 */
import { execFileSync } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { DraftCalibration, ModelSummary } from '../../../src-main/api/contract'
import { ModelSession } from '../../../src-main/engine/generate/model-session'
import { openBackend } from '../../../src-main/services/backend'
import { callBackend } from '../../fixtures/backend'
import { writeTinyTextModel } from '../../fixtures/fixtures'
import { mountSmallDisk, type SmallDisk } from '../../fixtures/small-disk'
import { sourceWorker } from '../../fixtures/workers'

const root = mkdtempSync(join(tmpdir(), 'model-calibration-'))
const bundledDir = join(root, 'bundled')
writeTinyTextModel(join(bundledDir, 'tiny-bundled'), { seed: 3, layers: 3, config: { eos_token_id: 9999 } })
const backend = openBackend({ transport: 'browser', dataDir: join(root, 'app'), log: () => {}, engineWorker: sourceWorker('engine-worker'), bundledModelsDir: bundledDir })
let disk: SmallDisk | undefined
afterAll(async () => {
  await backend.close()
  disk?.remove()
  rmSync(root, { recursive: true, force: true })
})

describe('models.calibrate', () => {
  it('measures every draft exit in a worker, reports progress, and writes the fastest into sorted.json for the next load', async () => {
    const dir = join(root, 'tiny')
    writeTinyTextModel(dir, { seed: 4, layers: 4, config: { eos_token_id: 9999 } })
    const { model } = await callBackend<{ model: ModelSummary }>(backend, 'models.import', { path: dir })
    const progress: { modelId: string; progress: number; message: string }[] = []
    const stop = backend.subscribe((event, payload) => {
      if (event === 'models.calibrationProgress') progress.push(payload as (typeof progress)[number])
    })
    const { calibration, written } = await callBackend<{ calibration: DraftCalibration; written: string }>(backend, 'models.calibrate', { modelId: model.id })
    stop()
    expect(calibration.exits.map((m) => m.exit)).toEqual([1, 2, 3])
    expect(calibration.exits.every((m) => m.matchesFullDepth)).toBe(true)
    expect([1, 2, 3]).toContain(calibration.chosenExit)
    expect(written).toBe(join(dir, 'sorted.json'))
    const sorted = JSON.parse(readFileSync(written, 'utf8'))
    expect(sorted).toMatchObject({ exits: [1, 2, 3, 4], draft_exit: calibration.chosenExit, draft_calibration: { precision: 'fp32', prompts: 6 } })
    expect(progress.length).toBeGreaterThan(2)
    expect(progress.every((p) => p.modelId === model.id)).toBe(true)
    expect(progress.map((p) => p.progress)).toEqual([...progress.map((p) => p.progress)].sort((a, b) => a - b))
    expect(progress.at(-1)).toMatchObject({ progress: 1, message: `Exact drafts at exit ${calibration.chosenExit}` })
    const session = await ModelSession.open(dir)
    expect(session.defaultDraftExit).toBe(calibration.chosenExit)
    await session.release()
  })

  it('refuses a bundled model and an unknown id, writing nothing', async () => {
    const before = readFileSync(join(bundledDir, 'tiny-bundled', 'config.json'), 'utf8')
    const bundled = await backend.dispatch('models.calibrate', { modelId: 'bundled:tiny-bundled' })
    expect(bundled).toMatchObject({ ok: false, error: { code: 'conflict' } })
    expect(bundled.ok ? '' : bundled.error.message).toContain('ships with the app')
    expect(readFileSync(join(bundledDir, 'tiny-bundled', 'config.json'), 'utf8')).toBe(before)
    expect(() => readFileSync(join(bundledDir, 'tiny-bundled', 'sorted.json'))).toThrow()
    expect(await backend.dispatch('models.calibrate', { modelId: 'nope' })).toMatchObject({ ok: false, error: { code: 'not_found' } })
  })

  it('refuses a read-only folder before loading anything', async () => {
    disk = mountSmallDisk({ sizeKiB: 1024 })
    const source = join(root, 'for-disk')
    writeTinyTextModel(source, { seed: 5, layers: 2, config: { eos_token_id: 9999 } })
    cpSync(source, disk.dir, { recursive: true })
    const { model } = await callBackend<{ model: ModelSummary }>(backend, 'models.import', { path: disk.dir })
    execFileSync('mount', ['-o', 'remount,ro', disk.dir], { stdio: 'pipe' })
    const refused = await backend.dispatch('models.calibrate', { modelId: model.id })
    expect(refused).toMatchObject({ ok: false, error: { code: 'conflict', message: `${model.name}'s folder ${disk.dir} is not writable: read-only file system (EROFS).` } })
  })
})
