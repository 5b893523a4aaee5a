import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { CompiledGraphCache } from '../../../../src-main/engine/onnx/cache'
import { Graph } from '../../../../src-main/engine/onnx/graph'
import { add, mul } from '../../../../src-main/engine/onnx/ops/basic'
import { toModelProto } from '../../../../src-main/engine/onnx/serialize'
import { autoProviderOrder, loadSession, tensor } from '../../../../src-main/engine/onnx/session'

const dir = mkdtempSync(join(tmpdir(), 'graph-cache-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** y = x·a + b, with a and b constants so the optimiser has something to fold. */
function model(a: number): Uint8Array {
  const g = new Graph('affine')
  const x = g.input('x', 'float32', ['n'])
  g.output(add(mul(x, a), 1), 'y')
  return toModelProto(g)
}

async function run(session: Awaited<ReturnType<typeof loadSession>>['session'], values: number[]): Promise<number[]> {
  const out = await session.run({ x: tensor('float32', Float32Array.from(values), [values.length]) })
  return Array.from(out.y!.data as Float32Array)
}

describe('execution providers', () => {
  it('runs on the CPU when asked', async () => {
    const loaded = await loadSession(model(2), { provider: 'cpu', intraOpThreads: 1 })
    expect(loaded.provider).toBe('cpu')
    expect(loaded.fallbackReason).toBeUndefined()
    expect(await run(loaded.session, [1, 2])).toEqual([3, 5])
  })

  it('falls back to the CPU from an unavailable provider and logs the cause', async () => {
    const log = vi.fn()
    // No CUDA libraries are installed here (npm run setup:gpu was not run).
    const loaded = await loadSession(model(2), { provider: 'cuda', log })
    expect(loaded.provider).toBe('cpu')
    expect(loaded.fallbackReason).toMatch(/^cuda is unavailable \(.+\)/)
    expect(log).toHaveBeenCalledWith(expect.stringContaining('cuda is unavailable'))
    expect(await run(loaded.session, [1])).toEqual([3])
  })

  it('tries the best provider for the platform first in automatic mode', () => {
    expect(autoProviderOrder('linux', true)).toEqual(['cuda', 'cpu'])
    expect(autoProviderOrder('linux', false)).toEqual(['cpu'])
    expect(autoProviderOrder('win32', false)).toEqual(['dml', 'cpu'])
    expect(autoProviderOrder('darwin', false)).toEqual(['cpu'])
  })
})

describe('compiled graph cache', () => {
  it('stores the optimised graph once and loads it from disk afterwards', async () => {
    const cache = new CompiledGraphCache(join(dir, 'a'))
    const first = await cache.load(model(3), { provider: 'cpu' })
    expect(first.cacheHit).toBe(false)
    expect(readdirSync(join(dir, 'a'))).toEqual([`${cache.key(model(3), 'cpu')}.onnx`])
    const second = await cache.load(model(3), { provider: 'cpu' })
    expect(second.cacheHit).toBe(true)
    expect(await run(second.session, [1, 2])).toEqual(await run(first.session, [1, 2]))
  })

  it('keys entries by graph content and provider', () => {
    const cache = new CompiledGraphCache(join(dir, 'b'))
    expect(cache.key(model(3), 'cpu')).toBe(cache.key(model(3), 'cpu'))
    expect(cache.key(model(3), 'cpu')).not.toBe(cache.key(model(4), 'cpu'))
    expect(cache.key(model(3), 'cpu')).not.toBe(cache.key(model(3), 'cuda'))
  })

  it('keys a derived graph by its source graph and its tag, and builds it only on a miss', async () => {
    const cache = new CompiledGraphCache(join(dir, 'd'))
    // Three different derivations of one source graph, e.g. int8 and int4 weights of the same layer.
    const keys = ['', 'weights=int8', 'weights=int4'].map((tag) => cache.key(model(3), 'cpu', tag))
    expect(new Set(keys).size).toBe(3)
    const build = vi.fn(() => model(7))
    const first = await cache.load(model(3), { provider: 'cpu' }, { tag: 'weights=int8', build })
    const second = await cache.load(model(3), { provider: 'cpu' }, { tag: 'weights=int8', build })
    expect([first.cacheHit, second.cacheHit]).toEqual([false, true])
    expect(build).toHaveBeenCalledTimes(1)
    // What loads is the derived graph (y = 7x + 1), under the derived key.
    expect(await run(second.session, [1])).toEqual([8])
    expect(readdirSync(join(dir, 'd'))).toEqual([`${keys[1]}.onnx`])
  })

  it('replaces a damaged entry instead of failing', async () => {
    const log = vi.fn()
    const cache = new CompiledGraphCache(join(dir, 'c'), log)
    await cache.load(model(5), { provider: 'cpu' })
    writeFileSync(cache.path(cache.key(model(5), 'cpu')), 'not a model')
    const reloaded = await cache.load(model(5), { provider: 'cpu' })
    expect(reloaded.cacheHit).toBe(false)
    expect(log).toHaveBeenCalledWith(expect.stringContaining('Discarding unreadable compiled graph'))
    expect(await run(reloaded.session, [2])).toEqual([11])
  })
})
