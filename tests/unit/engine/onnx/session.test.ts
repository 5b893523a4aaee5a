import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { Graph } from '../../../../src-main/engine/onnx/graph'
import { add, mul } from '../../../../src-main/engine/onnx/ops/basic'
import { toModelProto, writeModelFile } from '../../../../src-main/engine/onnx/serialize'
import { autoProviderOrder, loadSession, tensor } from '../../../../src-main/engine/onnx/session'

const dir = mkdtempSync(join(tmpdir(), 'saved-graph-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** y = x·a + b, with a and b constants so the optimiser has something to fold. */
function model(a: number): Uint8Array {
  const g = new Graph('affine')
  const x = g.input('x', 'float32', ['n'])
  g.output(add(mul(x, a), 1), 'y')
  return toModelProto(g)
}

/** y = x·w + 1 with w a 1024-value constant: large enough to leave the graph when saved with external data. */
function big(): Uint8Array {
  const g = new Graph('affine-big')
  const x = g.input('x', 'float32', [1024])
  const w = g.constant(Float32Array.from({ length: 1024 }, (_, i) => 1 + i / 1024), 'float32', [1024], 'w')
  g.output(add(mul(x, w), 1), 'y')
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

describe('saving an optimised graph', () => {
  it('puts its initializers in the file named beside it, and the saved graph loads and computes the same', async () => {
    const file = join(dir, 'affine.onnx')
    const original = await loadSession(big(), { provider: 'cpu', optimizedModelFilePath: file, optimizedModelExternalData: 'affine.data' })
    expect(readdirSync(dir).sort()).toEqual(['affine.data', 'affine.onnx'])
    // The 4 KiB constant is in the data file, not in the graph.
    expect(statSync(join(dir, 'affine.data')).size).toBeGreaterThanOrEqual(4096)
    expect(statSync(file).size).toBeLessThan(4096)
    const saved = await loadSession(file, { provider: 'cpu', optimization: 'disabled' })
    const x = Array.from({ length: 1024 }, (_, i) => i / 1024)
    expect(await run(saved.session, x)).toEqual(await run(original.session, x))
  })
})

describe('writing a graph with external data', () => {
  it('puts initializers of 1 KiB and more in the data file at aligned offsets, and ONNX Runtime computes the same from it', async () => {
    const sub = join(dir, 'external')
    mkdirSync(sub)
    const g = new Graph('external')
    const x = g.input('x', 'float32', [1024])
    const w = g.constant(Float32Array.from({ length: 1024 }, (_, i) => 1 + i / 1024), 'float32', [1024], 'w')
    const v = g.constant(Float32Array.from({ length: 1024 }, (_, i) => -i / 512), 'float32', [1024], 'v')
    const small = g.constant(Float32Array.from([0.5]), 'float32', [1], 'small')
    g.output(add(mul(add(mul(x, w), v), small), 1), 'y')
    writeModelFile(g, join(sub, 'm.onnx'), 'm.data')
    // Two 4 KiB initializers; the second starts at the next 64 KiB boundary. The 4-byte one stays inline.
    expect(statSync(join(sub, 'm.data')).size).toBe(65536 + 4096)
    const fromFile = await loadSession(join(sub, 'm.onnx'), { provider: 'cpu' })
    const inMemory = await loadSession(toModelProto(g), { provider: 'cpu' })
    const values = Array.from({ length: 1024 }, (_, i) => Math.sin(i))
    const expected = values.map((xi, i) => ((xi * (1 + i / 1024) - i / 512) * 0.5 + 1))
    const got = await run(fromFile.session, values)
    expect(got).toEqual(await run(inMemory.session, values))
    got.forEach((y, i) => expect(y).toBeCloseTo(expected[i]!, 4))
  })
})
