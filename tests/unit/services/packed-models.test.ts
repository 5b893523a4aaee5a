/**
 * A GPTQ/AWQ folder in the library: it loads in its own 4-bit packing only,
 * so the library records it as int4 whatever precision the import asked
 * for, and refuses to switch it to another (a later load would fail).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { ModelSummary } from '../../../src-main/api/contract'
import { openBackend } from '../../../src-main/services/backend'
import { callBackend } from '../../fixtures/backend'
import { sourceWorker } from '../../fixtures/workers'
import { writePrequantizedFolder } from '../engine/generate/prequantized-folder'
import { tinyConfig, tinyWeights } from '../engine/generate/random-model'

const root = mkdtempSync(join(tmpdir(), 'packed-models-'))
const backend = openBackend({ transport: 'browser', dataDir: join(root, 'app'), log: () => {}, engineWorker: sourceWorker('engine-worker') })
afterAll(async () => {
  await backend.close()
  rmSync(root, { recursive: true, force: true })
})

describe('a GPTQ folder in the library', () => {
  it('is recorded as int4 when imported with the default precision, and cannot be switched to fp32', async () => {
    const config = tinyConfig({ architecture: 'llama', heads: 4, kvHeads: 2, hidden: 64, intermediate: 96, layers: 2, vocab: 64 })
    const dir = join(root, 'gptq')
    writePrequantizedFolder(dir, config, tinyWeights(config, 4), { method: 'gptq', groupSize: 32, symmetric: true })
    const { model } = await callBackend<{ model: ModelSummary }>(backend, 'models.import', { path: dir })
    expect(model.precision).toBe('int4')
    const refused = await backend.dispatch('models.setPrecision', { modelId: model.id, precision: 'fp32' })
    expect(refused).toMatchObject({ ok: false, error: { code: 'invalid_params', issues: [{ path: 'precision' }] } })
    expect(refused.ok ? '' : refused.error.message).toContain('GPTQ/AWQ 4-bit weights')
  })
})
