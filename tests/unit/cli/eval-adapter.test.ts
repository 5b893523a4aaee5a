/**
 * `sorted eval` with adapters: the flags resolve per side over both sides
 * (like --weights-a/-b over --weights), each refusal names its flag, and on
 * a tiny model an adapter side answers differently from the base, with its
 * answers recorded apart per adapter content and rank (never reused for the
 * base, another rank, or a retrained adapter in the same folder).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest'
import { evalAdapters } from '../../../src-main/cli/eval-adapter-flags'
import { evalCommand } from '../../../src-main/cli/eval'
import { AdapterError } from '../../../src-main/engine/model/peft-adapter'
import { openStore } from '../../../src-main/store'
import { writeRandomAdapter } from '../../fixtures/adapters'
import { writeTinyTextModel } from '../../fixtures/fixtures'

const root = mkdtempSync(join(tmpdir(), 'cli-eval-adapter-'))
const modelDir = join(root, 'tiny')
const adapterDir = join(root, 'adapter')
const set = join(root, 'set.jsonl')
writeTinyTextModel(modelDir, { seed: 5 })
writeRandomAdapter(adapterDir, modelDir, { seed: 11, kind: 'dylora', rank: 4 })
writeFileSync(set, `${['hi', 'ho', 'ha', 'he'].map((w) => JSON.stringify({ instruction: `say ${w}`, reference: `${w} ${w}` })).join('\n')}\n`)
afterAll(() => rmSync(root, { recursive: true, force: true }))
afterEach(() => vi.restoreAllMocks())

describe('sorted eval adapter flags', () => {
  it('gives each side its own adapter and rank over the shared ones', () => {
    expect(evalAdapters({})).toEqual({ a: undefined, b: undefined })
    expect(evalAdapters({ adapter: adapterDir, 'adapter-rank': '2' })).toEqual({ a: { path: adapterDir, rank: 2 }, b: { path: adapterDir, rank: 2 } })
    expect(evalAdapters({ adapter: adapterDir, 'adapter-rank': '2', 'adapter-rank-b': '4' })).toEqual({ a: { path: adapterDir, rank: 2 }, b: { path: adapterDir, rank: 4 } })
    expect(evalAdapters({ 'adapter-a': adapterDir, 'adapter-rank-a': '1' })).toEqual({ a: { path: adapterDir, rank: 1 }, b: undefined })
    // The shared rank applies to each side that has an adapter.
    expect(evalAdapters({ 'adapter-b': adapterDir, 'adapter-rank': '3' })).toEqual({ a: undefined, b: { path: adapterDir, rank: 3 } })
  })

  it('refuses bad adapter flags, naming the flag', () => {
    const refusal = (flags: Parameters<typeof evalAdapters>[0]) => {
      try {
        evalAdapters(flags)
      } catch (error) {
        return (error as Error).message
      }
      return 'accepted'
    }
    expect(refusal({ 'adapter-a': adapterDir, 'adapter-rank-a': '32' })).toBe(`--adapter-rank-a 32 is above the adapter's r 4 (${adapterDir}).`)
    expect(refusal({ adapter: adapterDir, 'adapter-rank': '5' })).toBe(`--adapter-rank 5 is above the adapter's r 4 (${adapterDir}).`)
    expect(refusal({ 'adapter-a': adapterDir, 'adapter-rank-b': '2' })).toBe('--adapter-rank-b needs an adapter for b: give --adapter-b DIR or --adapter DIR.')
    expect(refusal({ 'adapter-rank': '2' })).toBe('--adapter-rank only goes with --adapter, --adapter-a or --adapter-b.')
    expect(refusal({ adapter: adapterDir, 'adapter-rank-a': '0' })).toBe('--adapter-rank-a must be a positive whole number (got "0").')
    expect(refusal({ adapter: adapterDir, 'adapter-rank': 'two' })).toBe('--adapter-rank must be a positive whole number (got "two").')
    expect(refusal({ 'adapter-b': modelDir })).toBe(`--adapter-b: ${modelDir} is not a PEFT adapter folder: it has no adapter_config.json`)
    expect(() => evalAdapters({ 'adapter-b': modelDir })).toThrow(AdapterError)
  })
})

/** One side of `sorted eval --json`'s `contenders`. */
interface SideJson {
  label: string
  adapter?: string
  adapter_rank?: number
  adapter_r?: number
  answers_generated: number
}

/** Runs `sorted eval ...args --json` in this process, returning the parsed output. */
async function sortedEval(dataDir: string, ...args: string[]): Promise<{ n: number; contenders: { a: SideJson; b: SideJson } }> {
  let stdout = ''
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((stdout += String(chunk)), true))
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
  try {
    const code = await evalCommand.run(['--set', set, '--max-new-tokens', '6', '--data-dir', dataDir, '--json', ...args])
    expect(code).toBe(0)
    return JSON.parse(stdout)
  } finally {
    vi.restoreAllMocks()
  }
}

/** Per item, the recorded answers: output and the adapter keys of the decoding. */
function recorded(dataDir: string): { exit: number; output: string; adapterRank: unknown; adapterSha256: unknown }[][] {
  const store = openStore(join(dataDir, 'sorted.db'))
  try {
    const [evalSet] = store.evals.sets()
    return store.evals.items(evalSet!.id).map((item) =>
      store.evals.generations(item.id).map((g) => ({ exit: g.exit, output: g.output, adapterRank: g.decoding['adapterRank'], adapterSha256: g.decoding['adapterSha256'] })),
    )
  } finally {
    store.close()
  }
}

describe('sorted eval --adapter on a tiny model', () => {
  const dataDir = join(root, 'data')

  it('compares a DyLoRA adapter at rank 2 cut at exit 2 with the same adapter at full rank', async () => {
    const out = await sortedEval(dataDir, '--a', `${modelDir}@2`, '--adapter-a', adapterDir, '--adapter-rank-a', '2', '--b', modelDir, '--adapter-b', adapterDir)
    expect(out.n).toBe(4)
    expect(out.contenders.a).toMatchObject({ label: `${modelDir}@2`, adapter: resolve(adapterDir), adapter_rank: 2, adapter_r: 4, answers_generated: 4 })
    expect(out.contenders.b).toMatchObject({ label: `${modelDir}@3`, adapter: resolve(adapterDir), adapter_rank: 4, adapter_r: 4, answers_generated: 4 })
    const answers = recorded(dataDir)
    for (const item of answers) expect(item.map((g) => [g.exit, g.adapterRank])).toEqual(expect.arrayContaining([[2, 2], [3, 4]]))
  })

  it('answers differently with the adapter than without, and never reuses one for the other', async () => {
    // A = the adapter at full rank and full depth: B of the run above, so its answers are reused.
    const out = await sortedEval(dataDir, '--a', modelDir, '--adapter-a', adapterDir, '--b', modelDir)
    expect(out.contenders.a.answers_generated).toBe(0)
    expect(out.contenders.b.answers_generated).toBe(4)
    expect(out.contenders.b.adapter).toBeUndefined()
    const answers = recorded(dataDir)
    expect(answers.map((item) => item.length)).toEqual([3, 3, 3, 3])
    const fullDepth = (rank: unknown) => answers.map((item) => item.find((g) => g.exit === 3 && g.adapterRank === rank)!.output)
    expect(fullDepth(4)).not.toEqual(fullDepth(undefined))

    // Another rank at the same exit is another contender: answered anew.
    const rank2 = await sortedEval(dataDir, '--a', modelDir, '--adapter-a', adapterDir, '--adapter-rank-a', '2', '--b', modelDir)
    expect(rank2.contenders.a.answers_generated).toBe(4)
    expect(rank2.contenders.b.answers_generated).toBe(0)
    expect(recorded(dataDir).map((item) => item.length)).toEqual([4, 4, 4, 4])
  })

  it('keys answers by the adapter content: a retrained adapter in the same folder answers anew', async () => {
    const before = recorded(dataDir)[0]!.find((g) => g.adapterRank === 4)!.adapterSha256
    rmSync(adapterDir, { recursive: true })
    writeRandomAdapter(adapterDir, modelDir, { seed: 12, kind: 'dylora', rank: 4 })
    const out = await sortedEval(dataDir, '--a', modelDir, '--adapter-a', adapterDir, '--b', modelDir)
    expect(out.contenders.a.answers_generated).toBe(4)
    const shas = new Set(recorded(dataDir)[0]!.filter((g) => g.adapterRank === 4).map((g) => g.adapterSha256))
    expect(shas.size).toBe(2)
    expect(shas.has(before)).toBe(true)
  })

  it('refuses A and B that are the same adapter contender', async () => {
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true)
    const args = ['--set', set, '--max-new-tokens', '6', '--data-dir', dataDir, '--a', modelDir, '--b', modelDir, '--adapter', adapterDir, '--adapter-rank', '2']
    await expect(evalCommand.run(args)).rejects.toThrow(`A and B are the same contender (${modelDir}@3): choose another exit, model, mode, weights or adapter.`)
  })
})
