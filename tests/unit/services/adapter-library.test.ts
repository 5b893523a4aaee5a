/**
 * Adapters in the library: importing a PEFT folder trained elsewhere under a
 * base model (refused, naming the file and field, when it does not fit),
 * chatting with it (base + adapter in the engine), and merging it into a new
 * library model that answers as the adapter did.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { EngineStatus, GenerationDone, ModelSummary } from '../../../src-main/api/contract'
import { openBackend, type OpenedBackend } from '../../../src-main/services/backend'
import { writeRandomAdapter } from '../../fixtures/adapters'
import { callBackend } from '../../fixtures/backend'
import { writeTinyTextModel } from '../../fixtures/fixtures'
import { sourceWorker } from '../../fixtures/workers'

const root = mkdtempSync(join(tmpdir(), 'adapter-library-'))
const bundledDir = join(root, 'bundled')
const baseDir = join(bundledDir, 'dictionary-soft')
const otherDir = join(root, 'other')
const adapterDir = join(root, 'adapter')
const wrongShapeDir = join(root, 'wrong-shape')
const unknownModuleDir = join(root, 'unknown-module')
const mergedDir = join(root, 'merged')
const baseId = 'bundled:dictionary-soft'
let backend: OpenedBackend

beforeAll(() => {
  writeTinyTextModel(baseDir, { seed: 3, layers: 2 })
  writeTinyTextModel(otherDir, { seed: 4, layers: 2, hidden: 48, intermediate: 96 })
  writeRandomAdapter(adapterDir, baseDir, { seed: 5, rank: 4 })
  writeRandomAdapter(wrongShapeDir, otherDir, { seed: 6 })
  writeRandomAdapter(unknownModuleDir, baseDir, { seed: 7 })
  const configFile = join(unknownModuleDir, 'adapter_config.json')
  const config = JSON.parse(readFileSync(configFile, 'utf8')) as { target_modules: string[] }
  writeFileSync(configFile, JSON.stringify({ ...config, target_modules: ['q_proj', 'lm_head'] }))
  backend = openBackend({ transport: 'browser', dataDir: join(root, 'data'), log: () => {}, engineWorker: sourceWorker('engine-worker'), bundledModelsDir: bundledDir })
})

afterAll(async () => {
  await backend.close()
  rmSync(root, { recursive: true, force: true })
})

const call = <T = Record<string, unknown>>(method: string, params: unknown = {}) => callBackend<T>(backend, method, params)

async function refusal(method: string, params: unknown): Promise<string> {
  const outcome = await backend.dispatch(method, params)
  if (outcome.ok) throw new Error(`${method} was not refused`)
  return outcome.error.message
}

function replyDone(chatId: string): Promise<{ message?: { content: string } }> {
  return new Promise((resolve) => {
    const stop = backend.subscribe((event, payload) => {
      if (event === 'chat.replyDone' && (payload as { chatId: string }).chatId === chatId) {
        stop()
        resolve(payload as { message?: { content: string } })
      }
    })
  })
}

async function tokensOf(promptIds: number[]): Promise<number[]> {
  const { generationId } = await call<{ generationId: string }>('engine.generate', { promptIds, maxNewTokens: 6 })
  return new Promise((resolve) => {
    const stop = backend.subscribe((event, payload) => {
      if (event === 'generation.done' && (payload as GenerationDone).generationId === generationId) {
        stop()
        resolve((payload as GenerationDone).tokens)
      }
    })
  })
}

describe('adapters in the model library', () => {
  let adapter: ModelSummary

  it('imports a PEFT folder under its base model', async () => {
    adapter = (await call<{ model: ModelSummary }>('models.importAdapter', { path: adapterDir, baseModelId: baseId })).model
    expect(adapter).toMatchObject({ path: adapterDir, source: 'imported', adapter: { baseModelId: baseId, basePath: baseDir, kind: 'lora', rank: 4, alpha: 8, targets: ['q_proj', 'v_proj', 'up_proj'] } })
    const { models } = await call<{ models: ModelSummary[] }>('models.list')
    expect(models.find((m) => m.id === adapter.id)?.adapter?.baseModelId).toBe(baseId)
    // The local API serves model folders; an adapter is offered there once merged into one.
    expect(backend.localApi.models().map((m) => m.libraryId)).not.toContain(adapter.id)
  })

  it('refuses an adapter whose shapes do not fit the base, naming the file and tensor, and adds nothing', async () => {
    const message = await refusal('models.importAdapter', { path: wrongShapeDir, baseModelId: baseId })
    expect(message).toContain(join(wrongShapeDir, 'adapter_model.safetensors'))
    expect(message).toMatch(/tensor ".*" has shape/)
    expect(message.split('\n')).toHaveLength(1)
    const { models } = await call<{ models: ModelSummary[] }>('models.list')
    expect(models.map((m) => m.path)).not.toContain(wrongShapeDir)
  })

  it('refuses unknown target modules naming the file and field, and a folder that is no adapter', async () => {
    const unknown = await refusal('models.importAdapter', { path: unknownModuleDir, baseModelId: baseId })
    expect(unknown).toContain(`${join(unknownModuleDir, 'adapter_config.json')}: field "target_modules": "lm_head"`)
    const plain = await refusal('models.importAdapter', { path: otherDir, baseModelId: baseId })
    expect(plain).toContain('has no adapter_config.json')
    const onAdapter = await refusal('models.importAdapter', { path: wrongShapeDir, baseModelId: adapter.id })
    expect(onAdapter).toContain('is an adapter')
  })

  it('chats with the adapter: the engine runs the base with the adapter merged in', async () => {
    const { chat } = await call<{ chat: { id: string } }>('chats.create', { modelId: adapter.id, settings: { maxNewTokens: 4 } })
    const done = replyDone(chat.id)
    await call('chats.send', { chatId: chat.id, content: 'Hello' })
    expect((await done).message).toBeDefined()
    const status = await call<EngineStatus>('engine.status')
    expect(status.model).toMatchObject({ path: baseDir, adapter: { path: adapterDir, rank: 4 } })
  })

  it('merges the adapter into a new library model that answers as base + adapter does', async () => {
    const progress: number[] = []
    const stop = backend.subscribe((event, payload) => {
      if (event === 'models.importProgress' && (payload as { path: string }).path === mergedDir) progress.push((payload as { progress: number }).progress)
    })
    const { model } = await call<{ model: ModelSummary }>('models.mergeAdapter', { modelId: adapter.id, to: mergedDir })
    stop()
    expect(model).toMatchObject({ path: mergedDir, source: 'imported' })
    expect(model.adapter).toBeUndefined()
    expect(existsSync(join(mergedDir, 'model.safetensors'))).toBe(true)
    expect(progress.at(-1)).toBe(1)
    await call('engine.load', { path: baseDir, adapter: { path: adapterDir } })
    const viaAdapter = await tokensOf([5, 6, 7])
    await call('engine.load', { path: mergedDir })
    expect(await tokensOf([5, 6, 7])).toEqual(viaAdapter)
  })

  it('refuses to merge into a folder that is not empty, or a model that is no adapter', async () => {
    const used = join(root, 'used')
    mkdirSync(used)
    writeFileSync(join(used, 'x'), '')
    expect(await refusal('models.mergeAdapter', { modelId: adapter.id, to: used })).toContain('not an empty folder')
    expect(await refusal('models.mergeAdapter', { modelId: baseId, to: join(root, 'never') })).toContain('is not an adapter')
    expect(await refusal('models.mergeAdapter', { modelId: adapter.id, to: join(root, 'never'), rank: 9 })).toBe("rank: rank 9 is above the adapter's r 4")
    expect(existsSync(join(root, 'never'))).toBe(false)
  })

  it('exports the adapter\'s PEFT folder', async () => {
    const to = join(root, 'exported-adapter')
    await call('models.export', { modelId: adapter.id, to })
    expect(existsSync(join(to, 'adapter_config.json'))).toBe(true)
    expect(existsSync(join(to, 'adapter_model.safetensors'))).toBe(true)
  })
})
