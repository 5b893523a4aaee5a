/**
 * engine.load with an adapter: the worker merges a PEFT adapter into the
 * base model at load, exactly as `sorted merge` writes it (the same first
 * tokens), says so in the engine's status, and refuses an adapter that does
 * not fit the base with a message naming the file.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { GenerationDone } from '../../../src-main/api/contract'
import { generateCommand } from '../../../src-main/cli/generate'
import { mergeCommand } from '../../../src-main/cli/merge'
import { openBackend, type Backend } from '../../../src-main/services/backend'
import { writeRandomAdapter } from '../../fixtures/adapters'
import { callBackend } from '../../fixtures/backend'
import { writeRandomModel } from '../../fixtures/fixtures'
import { sourceWorker } from '../../fixtures/workers'

const root = mkdtempSync(join(tmpdir(), 'engine-adapter-'))
const baseDir = join(root, 'base')
const otherDir = join(root, 'other')
const adapterDir = join(root, 'adapter')
const mergedDir = join(root, 'merged')
const foreignAdapterDir = join(root, 'foreign-adapter')
let backend: Backend

beforeAll(async () => {
  const shape = { architecture: 'llama', layers: 2, heads: 4, kvHeads: 2, vocab: 50, dtype: 'F32', config: { eos_token_id: 999 } } as const
  writeRandomModel(baseDir, { ...shape, hidden: 16, intermediate: 24, seed: 3 })
  writeRandomModel(otherDir, { ...shape, hidden: 32, intermediate: 40, seed: 4 })
  writeRandomAdapter(adapterDir, baseDir, { seed: 5, rank: 4 })
  writeRandomAdapter(foreignAdapterDir, otherDir, { seed: 6 })
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
  await mergeCommand.run(['--base', baseDir, '--adapter', adapterDir, '--out', mergedDir])
  vi.restoreAllMocks()
  backend = openBackend({ transport: 'browser', dataDir: join(root, 'data'), log: () => {}, engineWorker: sourceWorker('engine-worker') })
})

afterAll(async () => {
  await backend.close()
  rmSync(root, { recursive: true, force: true })
})

const call = (method: string, params: unknown = {}) => callBackend(backend, method, params)

async function firstTokens(): Promise<number[]> {
  const { generationId } = (await call('engine.generate', { promptIds: [3, 1, 4, 1, 5], maxNewTokens: 8 })) as { generationId: string }
  const done = await new Promise<GenerationDone>((resolve) => {
    const stop = backend.subscribe((event, payload) => {
      if (event === 'generation.done' && (payload as GenerationDone).generationId === generationId) {
        stop()
        resolve(payload as GenerationDone)
      }
    })
  })
  expect(done.finishReason).toBe('length')
  return done.tokens
}

describe('engine.load with an adapter', () => {
  it('runs base + adapter as the merged folder runs, and says it runs with the adapter', async () => {
    expect(await call('engine.load', { path: mergedDir })).toMatchObject({ state: 'ready' })
    const merged = await firstTokens()
    expect(await call('engine.load', { path: baseDir })).toMatchObject({ state: 'ready' })
    const base = await firstTokens()
    const status = await call('engine.load', { path: baseDir, adapter: { path: adapterDir } })
    expect(status).toMatchObject({ state: 'ready', model: { path: baseDir, adapter: { path: adapterDir, rank: 4, kind: 'lora' } } })
    expect(await firstTokens()).toEqual(merged)
    expect(merged).not.toEqual(base)
    // And as `sorted generate --adapter` runs it.
    let stdout = ''
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((stdout += String(chunk)), true))
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
    try {
      await generateCommand.run(['--model', baseDir, '--adapter', adapterDir, '--prompt-ids', '3,1,4,1,5', '--max-new-tokens', '8', '--json'])
    } finally {
      vi.restoreAllMocks()
    }
    expect((JSON.parse(stdout) as { tokens: number[] }).tokens).toEqual(merged)
  })

  it('runs an adapter at a smaller (nested, DyLoRA) rank', async () => {
    const status = await call('engine.load', { path: baseDir, adapter: { path: adapterDir, rank: 2 } })
    expect(status).toMatchObject({ state: 'ready', model: { adapter: { rank: 2 } } })
  })

  it('refuses an adapter trained on another base, naming the tensor and file', async () => {
    const status = await call('engine.load', { path: baseDir, adapter: { path: foreignAdapterDir } })
    expect(status.state).toBe('error')
    expect(String(status.error)).toContain(join(foreignAdapterDir, 'adapter_model.safetensors'))
    expect(String(status.error)).toContain('shape')
  })

  it('refuses a rank above the adapter\'s r', async () => {
    const status = await call('engine.load', { path: baseDir, adapter: { path: adapterDir, rank: 9 } })
    expect(status.state).toBe('error')
    expect(String(status.error)).toContain('above the adapter\'s r 4')
  })
})
