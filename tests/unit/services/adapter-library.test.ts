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
const dyloraDir = join(root, 'dylora')
/** A DyLoRA run's final validation loss per rank and exit, as tune-job.ts writes it into sorted.json. */
const resultsByRank = { '1': { '1': 5.5, '2': 5.25 }, '2': { '1': 5.0, '2': 4.75 }, '4': { '1': 4.5, '2': 4.25 } }
const baseId = 'bundled:dictionary-soft'
let backend: OpenedBackend

beforeAll(() => {
  writeTinyTextModel(baseDir, { seed: 3, layers: 2 })
  writeTinyTextModel(otherDir, { seed: 4, layers: 2, hidden: 48, intermediate: 96 })
  writeRandomAdapter(adapterDir, baseDir, { seed: 5, rank: 4 })
  writeRandomAdapter(dyloraDir, baseDir, {
    seed: 8,
    kind: 'dylora',
    rank: 4,
    sorted: { exits: [1, 2], results: {}, adapter: { kind: 'dylora', rank: 4 }, ranks: [1, 2, 4], results_by_rank: resultsByRank },
  })
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

function replyDone(chatId: string): Promise<{ message?: { content: string; settings: Record<string, unknown> } }> {
  return new Promise((resolve) => {
    const stop = backend.subscribe((event, payload) => {
      if (event === 'chat.replyDone' && (payload as { chatId: string }).chatId === chatId) {
        stop()
        resolve(payload as { message?: { content: string; settings: Record<string, unknown> } })
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
    expect(adapter.adapter?.resultsByRank).toBeUndefined()
  })

  it("lists a DyLoRA adapter with its run's validation loss per rank and exit (the result page's heat map)", async () => {
    const { model } = await call<{ model: ModelSummary }>('models.importAdapter', { path: dyloraDir, baseModelId: baseId })
    expect(model.adapter).toMatchObject({ kind: 'dylora', rank: 4, resultsByRank })
    const { models } = await call<{ models: ModelSummary[] }>('models.list')
    expect(models.find((m) => m.id === model.id)?.adapter?.resultsByRank).toEqual(resultsByRank)
  })

  it('chats with a DyLoRA adapter at a chosen rank: the engine merges it at that rank, as merging at that rank does', async () => {
    const dylora = (await call<{ models: ModelSummary[] }>('models.list')).models.find((m) => m.path === dyloraDir)!
    const { chat } = await call<{ chat: { id: string } }>('chats.create', { modelId: dylora.id, settings: { maxNewTokens: 4, adapterRank: 2 } })
    const done = replyDone(chat.id)
    await call('chats.send', { chatId: chat.id, content: 'Hello' })
    // The reply records the rank it was made at.
    expect((await done).message?.settings).toMatchObject({ adapterRank: 2 })
    expect((await call<EngineStatus>('engine.status')).model).toMatchObject({ path: baseDir, adapter: { path: dyloraDir, rank: 2, r: 4, kind: 'dylora' } })
    const atRank2 = await tokensOf([5, 6, 7])

    const mergedAt2 = join(root, 'merged-rank-2')
    await call('models.mergeAdapter', { modelId: dylora.id, to: mergedAt2, rank: 2 })
    await call('engine.load', { path: mergedAt2 })
    expect(await tokensOf([5, 6, 7])).toEqual(atRank2)
    await call('engine.load', { path: baseDir, adapter: { path: dyloraDir } })
    expect(await tokensOf([5, 6, 7])).not.toEqual(atRank2)

    // Back to r (no rank): the next reply loads the adapter at its full rank.
    await call('chats.configure', { chatId: chat.id, settings: { maxNewTokens: 4 } })
    await call('engine.load', { path: baseDir })
    const again = replyDone(chat.id)
    await call('chats.send', { chatId: chat.id, content: 'Hello again' })
    await again
    expect((await call<EngineStatus>('engine.status')).model?.adapter).toMatchObject({ path: dyloraDir, rank: 4 })
  })

  it('refuses a chat rank above the adapter\'s r, or on a model that is no adapter, naming the field', async () => {
    const dylora = (await call<{ models: ModelSummary[] }>('models.list')).models.find((m) => m.path === dyloraDir)!
    expect(await refusal('chats.create', { modelId: dylora.id, settings: { adapterRank: 9 } })).toBe("settings.adapterRank: rank 9 is above the adapter's r 4")
    expect(await refusal('chats.create', { modelId: baseId, settings: { adapterRank: 2 } })).toBe('settings.adapterRank: "dictionary-soft" is not an adapter; a rank only applies to a DyLoRA adapter.')
    const { chat } = await call<{ chat: { id: string } }>('chats.create', { modelId: dylora.id, settings: { adapterRank: 2 } })
    expect(await refusal('chats.configure', { chatId: chat.id, settings: { adapterRank: 5 } })).toBe("settings.adapterRank: rank 5 is above the adapter's r 4")
    // Moving the chat to a base model with the rank still set is refused too: the client drops the rank with the model.
    expect(await refusal('chats.configure', { chatId: chat.id, modelId: baseId })).toContain('settings.adapterRank:')
    await call('chats.configure', { chatId: chat.id, modelId: baseId, settings: {} })
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
