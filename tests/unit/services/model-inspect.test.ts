/**
 * models.inspect and runs.estimate read a model folder on the server's main
 * thread: a config.json that no real model has, or one the weights do not
 * match, is refused from the small files alone (before anything is sized
 * from it), with the file and field named, and the server keeps answering.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openBackend, type Backend } from '../../../src-main/services/backend'
import { writeTinyTextModel } from '../../fixtures/fixtures'
import { sourceWorker } from '../../fixtures/workers'
import { callBackend } from '../../fixtures/backend'

const root = mkdtempSync(join(tmpdir(), 'model-inspect-'))
const data = join(root, 'data.jsonl')
let backend: Backend

beforeAll(() => {
  writeFileSync(data, `${JSON.stringify({ instruction: 'count', output: '1 2 3' })}\n`)
  backend = openBackend({ transport: 'browser', dataDir: join(root, 'data'), log: () => {}, datasetWorker: sourceWorker('dataset-worker') })
})

afterAll(async () => {
  await backend.close()
  rmSync(root, { recursive: true, force: true })
})

const tune = (modelPath: string) => ({ modelPath, dataPath: data, outDir: join(root, 'out'), mode: 'soft', seqLen: 32, epochs: 1 })

async function refusal(method: string, params: unknown): Promise<{ code: string; message: string; issues: { path: string }[] }> {
  const outcome = await backend.dispatch(method, params)
  if (outcome.ok) throw new Error(`${method} was expected to fail`)
  return outcome.error as never
}

describe('model folders the main thread must not size anything from', { timeout: 60_000 }, () => {
  it('a config with a billion layers is refused by models.inspect and runs.estimate, naming num_hidden_layers; the server keeps answering', async () => {
    const dir = join(root, 'billion')
    writeTinyTextModel(dir, { seed: 1, config: { num_hidden_layers: 1_000_000_000 } })
    const field = `${join(dir, 'config.json')}: field "num_hidden_layers": 1000000000: at most 1024`
    const inspected = await refusal('models.inspect', { path: dir })
    expect(inspected).toMatchObject({ code: 'invalid_params', issues: [{ path: 'path' }] })
    expect(inspected.message).toContain(field)
    const estimated = await refusal('runs.estimate', tune(dir))
    expect(estimated).toMatchObject({ code: 'invalid_params', issues: [{ path: 'modelPath' }] })
    expect(estimated.message).toContain(field)
    expect(await callBackend(backend, 'models.list')).toHaveProperty('models')
  })

  it('a config whose layer count the weights do not have is refused by both, naming the field', async () => {
    const dir = join(root, 'more-layers')
    writeTinyTextModel(dir, { seed: 2, layers: 2, config: { num_hidden_layers: 5 } })
    const expected = `${join(dir, 'config.json')}: field "num_hidden_layers": 5, but the weights (${join(dir, 'model.safetensors')}) hold 2 layers`
    expect((await refusal('models.inspect', { path: dir })).message).toContain(expected)
    expect((await refusal('runs.estimate', tune(dir))).message).toContain(expected)
  })

  it('a weight whose shape the config does not imply is refused by both, naming the tensor', async () => {
    const dir = join(root, 'wrong-shape')
    writeTinyTextModel(dir, { seed: 3, config: { intermediate_size: 40 } })
    const expected = /tensor "model\.layers\.0\.mlp\.gate_proj\.weight": shape \[24, 16\] does not match config\.json, which implies \[40, 16\]/
    expect((await refusal('models.inspect', { path: dir })).message).toMatch(expected)
    expect((await refusal('runs.estimate', tune(dir))).message).toMatch(expected)
  })

  it('a quantization_config this engine cannot load (act-order GPTQ) is refused by models.inspect, naming the field', async () => {
    const dir = join(root, 'act-order')
    writeTinyTextModel(dir, { seed: 4, config: { quantization_config: { quant_method: 'gptq', bits: 4, group_size: 128, desc_act: true } } })
    const inspected = await refusal('models.inspect', { path: dir })
    expect(inspected).toMatchObject({ code: 'invalid_params', issues: [{ path: 'path' }] })
    expect(inspected.message).toContain(`${join(dir, 'config.json')}: quantization_config.desc_act: act-order (desc_act: true) checkpoints are not supported`)
  })
})
