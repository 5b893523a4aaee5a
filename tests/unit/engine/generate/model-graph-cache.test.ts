/**
 * The compiled-graph cache of a model folder: a second load reads the graphs
 * it kept (not the weights), touching a source file rebuilds it, a damaged
 * entry is rebuilt rather than trusted, and a failed build leaves nothing.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ModelGraphCache } from '../../../../src-main/engine/generate/model-graph-cache'
import { ModelSession } from '../../../../src-main/engine/generate/model-session'
import { settleTarget } from '../../../../src-main/engine/generate/runtime'
import { exportModel } from '../../../../src-main/engine/model/export'
import { readSafetensors, writeSafetensors } from '../../../../src-main/engine/model/safetensors'
import { weightFormat, type WeightPrecision } from '../../../../src-main/engine/model/weight-format'
import { tinyConfig, tinyWeights } from './random-model'

const root = mkdtempSync(join(tmpdir(), 'sorted-graph-cache-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

const config = tinyConfig({ layers: 2, hidden: 64, vocab: 64, intermediate: 96 })
const prompt = [5, 17, 3, 42, 8, 11]

function modelFolder(name: string, seed: number): string {
  const dir = join(root, name)
  exportModel({ config, weights: tinyWeights(config, seed) }, dir)
  return dir
}

/** Loads `dir`, generates greedily, and says what the load did (its progress messages and log lines). */
async function loadAndGenerate(dir: string, cacheDir: string, precision: WeightPrecision = 'int4') {
  const messages: string[] = []
  const logged: string[] = []
  const session = await ModelSession.open(dir, { cacheDir, weights: { precision }, onProgress: (_f, m) => messages.push(m), log: (m) => logged.push(m) })
  const { tokens } = await session.generate({ input: { promptIds: prompt }, maxNewTokens: 6, exitAt: () => config.numLayers })
  const weights = session.info.weights
  await session.release()
  return { messages, logged, tokens, weights, compiled: messages.some((m) => m.startsWith('Compiling')) }
}

const entries = (cacheDir: string) => readdirSync(cacheDir).filter((name) => !name.endsWith('.tmp'))
const weightsFile = (dir: string) => join(dir, 'model.safetensors')

describe('the compiled-graph cache', () => {
  it('keeps the optimised graphs with their weights beside them, and a second load reads them instead of the weights', async () => {
    const dir = modelFolder('reused', 1)
    // A whole-second time stamp, which utimes can set back exactly below.
    const stamp = new Date(1_700_000_000_000)
    utimesSync(weightsFile(dir), stamp, stamp)
    const cacheDir = join(root, 'cache-reused')
    const first = await loadAndGenerate(dir, cacheDir)
    expect(first.compiled).toBe(true)
    expect(first.messages).toContain('Compiling layer 2 of 2 in int4 (block 32, LM head int8)')
    const [entry] = entries(cacheDir)
    expect(entries(cacheDir)).toHaveLength(1)
    const files = readdirSync(join(cacheDir, entry!)).sort()
    expect(files).toEqual(['layer_0.data', 'layer_0.onnx', 'layer_1.data', 'layer_1.onnx', 'manifest.json', 'outer.data', 'outer.onnx'])
    // The packed weights live in the .data files (the graphs keep only initializers under 1 KiB).
    expect(statSync(join(cacheDir, entry!, 'layer_1.data')).size).toBeGreaterThan(statSync(join(cacheDir, entry!, 'layer_1.onnx')).size)

    // The same header, size and time stamp, but every weight byte changed: the cache trusts the
    // files' identity, so an answer that is still the first one's proves no weight was read.
    const original = readFileSync(weightsFile(dir))
    const dataStart = 8 + Number(original.readBigUInt64LE(0))
    writeFileSync(weightsFile(dir), Buffer.concat([original.subarray(0, dataStart), Buffer.alloc(original.length - dataStart, 0x7f)]))
    utimesSync(weightsFile(dir), stamp, stamp)
    const second = await loadAndGenerate(dir, cacheDir)
    expect(second.compiled).toBe(false)
    expect(second.messages).toContain('Loading compiled layer 2 of 2')
    expect(second.tokens).toEqual(first.tokens)
    expect(second.weights).toEqual(first.weights)
    writeFileSync(weightsFile(dir), original)
    utimesSync(weightsFile(dir), stamp, stamp)
  })

  it('rebuilds when a source file changes, and drops the entry it replaces', async () => {
    const dir = modelFolder('touched', 2)
    const cacheDir = join(root, 'cache-touched')
    const first = await loadAndGenerate(dir, cacheDir)
    const [before] = entries(cacheDir)
    // Different weights of the same size, with a new time stamp.
    exportModel({ config, weights: tinyWeights(config, 3) }, dir, { overwrite: true })
    utimesSync(weightsFile(dir), new Date(), new Date(Date.now() + 5_000))
    const second = await loadAndGenerate(dir, cacheDir)
    expect(second.compiled).toBe(true)
    expect(entries(cacheDir)).toHaveLength(1)
    expect(entries(cacheDir)[0]).not.toBe(before)
    // The answer is the new weights' (compiled again without a cache).
    const fresh = await loadAndGenerate(dir, join(root, 'cache-touched-fresh'))
    expect(second.tokens).toEqual(fresh.tokens)
    expect(first.tokens).not.toEqual(fresh.tokens)
  })

  it('keeps one entry per precision of the same folder', async () => {
    const dir = modelFolder('precisions', 4)
    const cacheDir = join(root, 'cache-precisions')
    const answers = []
    for (const precision of ['int4', 'int8', 'fp32'] as const) answers.push((await loadAndGenerate(dir, cacheDir, precision)).tokens)
    expect(entries(cacheDir)).toHaveLength(3)
    for (const [i, precision] of (['int4', 'int8', 'fp32'] as const).entries()) {
      const again = await loadAndGenerate(dir, cacheDir, precision)
      expect(again.compiled).toBe(false)
      expect(again.weights.precision).toBe(precision)
      expect(again.tokens).toEqual(answers[i])
    }
  })

  it('rebuilds a damaged entry instead of trusting it, and says so', async () => {
    const dir = modelFolder('damaged', 5)
    const cacheDir = join(root, 'cache-damaged')
    const first = await loadAndGenerate(dir, cacheDir)
    const entry = join(cacheDir, entries(cacheDir)[0]!)
    // A truncated weights file: caught by the manifest's sizes before ONNX Runtime reads it.
    truncateSync(join(entry, 'layer_1.data'), 100)
    const second = await loadAndGenerate(dir, cacheDir)
    expect(second.compiled).toBe(true)
    expect(second.logged.join('\n')).toMatch(/Discarding compiled graphs .*layer_1\.data has 100 bytes/)
    expect(second.tokens).toEqual(first.tokens)
    // Same size, garbage inside: ONNX Runtime refuses the graph, and the entry is rebuilt.
    const graph = join(cacheDir, entries(cacheDir)[0]!, 'outer.onnx')
    writeFileSync(graph, Buffer.alloc(statSync(graph).size, 0xff))
    const third = await loadAndGenerate(dir, cacheDir)
    expect(third.compiled).toBe(true)
    expect(third.logged.join('\n')).toContain('Discarding compiled graphs')
    expect(third.tokens).toEqual(first.tokens)
    // An unreadable manifest.
    writeFileSync(join(cacheDir, entries(cacheDir)[0]!, 'manifest.json'), '{')
    expect((await loadAndGenerate(dir, cacheDir)).compiled).toBe(true)
    expect(entries(cacheDir)).toHaveLength(1)
  })

  it('leaves nothing behind when the build fails', async () => {
    const dir = modelFolder('failing', 6)
    const cacheDir = join(root, 'cache-failing')
    const cache = new ModelGraphCache(cacheDir)
    const target = await settleTarget(weightFormat({ precision: 'int4' }))
    const key = cache.key(dir, config, target)
    await expect(cache.write(key, { folder: dir, target }, async (saveIn) => {
      writeFileSync(join(saveIn, 'outer.onnx'), 'half')
      throw new Error('killed mid-build')
    })).rejects.toThrow('killed mid-build')
    expect(readdirSync(cacheDir)).toEqual([])
    expect(cache.find(key, config.numLayers)).toBeUndefined()
    expect(existsSync(join(cacheDir, key))).toBe(false)
  })

  it('keys entries by the folder, its files, the format and the provider', async () => {
    const dir = modelFolder('keys', 7)
    const cache = new ModelGraphCache(join(root, 'cache-keys'))
    const int4 = await settleTarget(weightFormat({ precision: 'int4' }))
    const key = cache.key(dir, config, int4)
    expect(cache.key(dir, config, int4)).toBe(key)
    expect(cache.key(dir, config, await settleTarget(weightFormat({ precision: 'int4', blockSize: 64 })))).not.toBe(key)
    expect(cache.key(dir, config, { ...int4, provider: 'cuda' })).not.toBe(key)
    expect(cache.key(modelFolder('keys-copy', 7), config, int4)).not.toBe(key)
    utimesSync(weightsFile(dir), new Date(), new Date(Date.now() + 10_000))
    expect(cache.key(dir, config, int4)).not.toBe(key)
  })
})

describe('a load that fails part way', () => {
  it('names the broken tensor of a late layer and keeps no cache entry', async () => {
    const dir = modelFolder('late-nan', 8)
    const file = weightsFile(dir)
    const { tensors } = readSafetensors(file)
    const name = 'model.layers.1.mlp.up_proj.weight'
    writeSafetensors(file, [...tensors].map(([n, t]) => ({ name: n, shape: t.shape, data: n === name ? t.data.map((x, i) => (i === 3 ? Number.NaN : x)) : t.data })), { dtype: 'F32' })
    const cacheDir = join(root, 'cache-late-nan')
    await expect(ModelSession.open(dir, { cacheDir, weights: { precision: 'int4' } })).rejects.toThrow(`tensor "${name}": value 3 is NaN`)
    expect(readdirSync(cacheDir)).toEqual([])
  })
})

describe('the cache as the Settings page sees it', () => {
  it('counts its entries and their bytes, and clearing removes them but not an entry being written', async () => {
    const dir = modelFolder('usage', 9)
    const cacheDir = join(root, 'cache-usage')
    const cache = new ModelGraphCache(cacheDir)
    expect(cache.usage()).toEqual({ entries: 0, bytes: 0 })
    await loadAndGenerate(dir, cacheDir, 'int4')
    await loadAndGenerate(dir, cacheDir, 'fp32')
    const bytesOnDisk = entries(cacheDir).reduce((sum, entry) => sum + readdirSync(join(cacheDir, entry)).reduce((s, f) => s + statSync(join(cacheDir, entry, f)).size, 0), 0)
    expect(cache.usage()).toEqual({ entries: 2, bytes: bytesOnDisk })
    // A load under way in another process.
    mkdirSync(join(cacheDir, 'abc.123.tmp'))
    writeFileSync(join(cacheDir, 'abc.123.tmp', 'outer.onnx'), 'partial')
    expect(cache.clear()).toEqual({ removed: 2, kept: 0, freedBytes: bytesOnDisk })
    expect(readdirSync(cacheDir)).toEqual(['abc.123.tmp'])
    expect(cache.usage()).toEqual({ entries: 0, bytes: 7 })
    // The next load compiles again.
    expect((await loadAndGenerate(dir, cacheDir, 'int4')).compiled).toBe(true)
  })
})
