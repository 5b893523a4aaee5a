import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openStore } from '../../src-main/store'
import { writeTinyTextModel } from '../fixtures/fixtures'
import { finish, runCli } from './harness'

const root = mkdtempSync(join(tmpdir(), 'sorted-eval-'))
const modelA = join(root, 'a')
const modelB = join(root, 'b')
const dataDir = join(root, 'data')
const set = join(root, 'set.jsonl')
afterAll(() => rmSync(root, { recursive: true, force: true }))

beforeAll(() => {
  writeTinyTextModel(modelA, { seed: 1 })
  writeTinyTextModel(modelB, { seed: 2 })
  const items = ['hi', 'ho', 'ha', 'he'].map((w) => JSON.stringify({ instruction: `say ${w}`, reference: `${w} ${w}` }))
  writeFileSync(set, `${items.join('\n')}\n`)
})


const base = ['eval', '--set', set, '--b', modelB, '--max-new-tokens', '6', '--data-dir', dataDir, '--json']

describe('sorted eval', () => {
  it('judges A@exit against B in both orders and prints W/L/T, score and N', async () => {
    const result = await finish([...base, '--a', `${modelA}@2`])
    expect(result.code, result.stderr).toBe(0)
    const out = JSON.parse(result.stdout)
    expect(out).toMatchObject({ a: `${modelA}@2`, b: `${modelB}@3`, judge: 'reference', n: 4 })
    expect(out.wins + out.losses + out.ties).toBeCloseTo(4, 12)
    expect(out.score).toBeCloseTo((out.wins - out.losses) / 4, 12)
  })

  it('reuses stored answers and verdicts on a rerun: same result, nothing generated twice', async () => {
    const first = JSON.parse((await finish([...base, '--a', `${modelA}@2`])).stdout)
    const again = await finish([...base, '--a', `${modelA}@2`])
    expect(again.stderr).not.toContain('new answers')
    expect(JSON.parse(again.stdout)).toEqual(first)
    const store = openStore(join(dataDir, 'sorted.db'))
    const [evalSet] = store.evals.sets()
    const items = store.evals.items(evalSet!.id)
    expect(items.map((i) => store.evals.generations(i.id).length)).toEqual([2, 2, 2, 2])
    expect(store.evals.comparisons(evalSet!.id)).toHaveLength(4)
    store.close()
  })

  it('resumes a killed evaluation without generating anything twice', async () => {
    const big = join(root, 'big.jsonl')
    writeFileSync(big, `${Array.from({ length: 40 }, (_, i) => JSON.stringify({ instruction: `say ${i}`, reference: `${i}` })).join('\n')}\n`)
    const killedDir = join(root, 'killed')
    const args = ['eval', '--set', big, '--a', `${modelA}@1`, '--b', modelB, '--max-new-tokens', '6', '--data-dir', killedDir, '--json']
    const child = runCli(args)
    let stderr = ''
    await new Promise<void>((resolve) =>
      child.stderr?.on('data', (chunk) => {
        stderr += chunk
        if (stderr.includes(': 20/40')) {
          child.kill('SIGKILL')
          resolve()
        }
      }),
    )
    await new Promise((resolve) => child.once('exit', resolve))
    const resumed = await finish(args)
    expect(resumed.code, resumed.stderr).toBe(0)
    expect(JSON.parse(resumed.stdout).n).toBe(40)
    const store = openStore(join(killedDir, 'sorted.db'))
    const [evalSet] = store.evals.sets()
    const counts = store.evals.items(evalSet!.id).map((i) => store.evals.generations(i.id).length)
    expect(counts).toEqual(new Array(40).fill(2))
    expect(store.evals.comparisons(evalSet!.id)).toHaveLength(40)
    store.close()
  })

  it('--matrix judges every exit of A against B', async () => {
    const result = await finish([...base, '--a', modelA, '--matrix'])
    expect(result.code, result.stderr).toBe(0)
    const out = JSON.parse(result.stdout)
    expect(out.rows.map((r: { exit: number; n: number }) => [r.exit, r.n])).toEqual([[1, 4], [2, 4], [3, 4]])
  })

  it('runs a causal LM as a PandaLM judge', async () => {
    const pandalmSet = join(root, 'pandalm.json')
    writeFileSync(pandalmSet, JSON.stringify([{ motivation_app: 'x', instruction: 'say hi', input: '' }, { motivation_app: 'y', instruction: 'say ho', input: 'ho' }]))
    const result = await finish(['eval', '--set', pandalmSet, '--a', `${modelA}@1`, '--b', modelB, '--judge', `pandalm:${modelB}`, '--max-new-tokens', '4', '--data-dir', dataDir, '--json'])
    expect(result.code, result.stderr).toBe(0)
    const out = JSON.parse(result.stdout)
    expect(out).toMatchObject({ judge: 'pandalm:b', n: 2 })
    expect(out.wins + out.losses + out.ties).toBeCloseTo(2, 12)
  }, 120_000)

  it('runs each side in its own weights (--weights-a int4 --weights-b fp32), names them, and keeps int4 answers apart from fp32 ones', async () => {
    const weightsDir = join(root, 'weights')
    const args = ['eval', '--set', set, '--a', `${modelA}@2`, '--b', modelB, '--max-new-tokens', '6', '--data-dir', weightsDir, '--json']
    const fp32 = JSON.parse((await finish(args)).stdout)
    expect(fp32.contenders.a).toMatchObject({ label: `${modelA}@2`, weights: 'fp32', mode: 'exit', answers_generated: 4 })
    const result = await finish([...args, '--weights-a', 'int4', '--weights-b', 'fp32'])
    expect(result.code, result.stderr).toBe(0)
    const out = JSON.parse(result.stdout)
    expect(out).toMatchObject({ a: `${modelA}@2`, b: `${modelB}@3`, n: 4 })
    // A's int4 answers are made anew (not the fp32 ones recorded at the same exit); B's fp32 answers are reused.
    expect(out.contenders.a).toMatchObject({ weights: 'int4', block_size: 32, lm_head: 'int8', mode: 'exit', answers_generated: 4 })
    expect(out.contenders.b).toMatchObject({ label: `${modelB}@3`, weights: 'fp32', mode: 'exit', answers_generated: 0 })
    // --weights applies to both sides; --weights-b overrides it for B; --block-size to every quantized side.
    const both = JSON.parse((await finish([...args, '--weights', 'int8', '--weights-b', 'int4', '--block-size', '64'])).stdout)
    expect(both.contenders.a).toMatchObject({ weights: 'int8', block_size: 64 })
    expect(both.contenders.b).toMatchObject({ weights: 'int4', block_size: 64 })
    const human = await finish(args.filter((x) => x !== '--json').concat('--weights-a', 'int4'))
    expect(human.stdout).toContain(`a: ${modelA}@2, int4 (block 32): fixed exit (0 new answers)`)
    expect(human.stdout).toContain(`b: ${modelB}@3, fp32: fixed exit (0 new answers)`)
  }, 120_000)

  it('runs MODEL@exact (the full model\'s greedy answers, with the acceptance rate) and MODEL@auto:TAU (with the mean exit)', async () => {
    const modesDir = join(root, 'modes')
    const args = (a: string) => ['eval', '--set', set, '--a', a, '--b', modelB, '--max-new-tokens', '6', '--data-dir', modesDir, '--json']
    const full = await finish(args(modelA))
    expect(full.code, full.stderr).toBe(0)
    const exact = await finish(args(`${modelA}@exact`))
    expect(exact.code, exact.stderr).toBe(0)
    const out = JSON.parse(exact.stdout)
    expect(out.a).toBe(`${modelA}@exact`)
    expect(out.contenders.a).toMatchObject({ label: `${modelA}@exact`, weights: 'fp32', mode: 'exact', draft_exit: 1, answers_generated: 4 })
    expect(out.contenders.a.acceptance_rate).toBeGreaterThanOrEqual(0)
    expect(out.contenders.a.acceptance_rate).toBeLessThanOrEqual(1)
    // A rerun reuses the recorded answers and reports the same figures (each answer is recorded with its own).
    const again = JSON.parse((await finish(args(`${modelA}@exact`))).stdout)
    expect(again.contenders.a).toEqual({ ...out.contenders.a, answers_generated: 0 })
    // Exact answers are the full model's greedy answers, recorded apart from them.
    const store = openStore(join(modesDir, 'sorted.db'))
    const [evalSet] = store.evals.sets()
    for (const item of store.evals.items(evalSet!.id)) {
      const ofA = store.evals.generations(item.id).filter((g) => g.exit === 3 && store.models.get(g.modelId)?.path === modelA)
      expect(ofA.map((g) => g.decoding['mode'] ?? 'exit').sort()).toEqual(['exact', 'exit'])
      expect(new Set(ofA.map((g) => g.output)).size).toBe(1)
    }
    store.close()
    // The same answers against the same B: the same verdicts.
    const fullOut = JSON.parse(full.stdout)
    expect([out.wins, out.losses, out.ties]).toEqual([fullOut.wins, fullOut.losses, fullOut.ties])

    const auto = JSON.parse((await finish(args(`${modelA}@auto:0.5`))).stdout)
    expect(auto.contenders.a).toMatchObject({ label: `${modelA}@auto:0.5`, mode: 'auto', auto_tau: 0.5, answers_generated: 4 })
    expect(auto.contenders.a.mean_exit).toBeGreaterThanOrEqual(1)
    expect(auto.contenders.a.mean_exit).toBeLessThanOrEqual(3)
  }, 120_000)

  it('refuses malformed contenders and weights with one line naming the flag', async () => {
    const refusal = async (...extra: string[]) => {
      const result = await finish(['eval', '--set', set, '--data-dir', dataDir, ...extra])
      expect(result.code).toBe(2)
      // The reason on one line, then the command's usage.
      expect(result.stderr).toContain('Usage: sorted eval')
      return result.stderr.split('\n')[0]!
    }
    expect(await refusal('--a', `${modelA}@auto:2`, '--b', modelB)).toBe(`sorted eval: --a ${modelA}@auto:2: @auto:TAU needs TAU in 0..1 (got "2").`)
    expect(await refusal('--a', modelA, '--b', `${modelB}@exact:3`)).toContain(`--b ${modelB}@exact:3: @exact takes no value (got "exact:3")`)
    expect(await refusal('--a', `${modelA}@foo`, '--b', modelB)).toBe(`sorted eval: --a ${modelA}@foo: "@foo" is not a contender form: give @EXIT (a layer count), @exact or @auto:TAU.`)
    expect(await refusal('--a', modelA, '--b', modelB, '--weights-b', 'int3')).toBe('sorted eval: --weights-b must be one of fp32, int8, int4 (got "int3").')
    expect(await refusal('--a', modelA, '--b', modelB, '--weights', 'fp16')).toBe('sorted eval: --weights must be one of fp32, int8, int4 (got "fp16").')
    expect(await refusal('--a', modelA, '--b', modelB, '--weights', 'int4', '--block-size', '48')).toBe('sorted eval: --block-size must be 32, 64 or 128 (got "48").')
    expect(await refusal('--a', modelA, '--b', modelB, '--block-size', '64')).toContain('--block-size applies to int8 and int4 weights only')
    const oneLayer = join(root, 'one-layer')
    writeTinyTextModel(oneLayer, { seed: 3, layers: 1 })
    expect(await refusal('--a', `${oneLayer}@exact`, '--b', modelB)).toBe(`sorted eval: ${oneLayer}@exact: Exact mode needs a model of at least 2 layers (${oneLayer} has 1).`)
    expect(await refusal('--a', `${modelA}@exact`, '--b', modelB, '--matrix')).toBe('sorted eval: --matrix judges every exit of --a: give --a without @EXIT, @exact or @auto.')
  })

  it('explains that the reference judge needs references', async () => {
    const noRefs = join(root, 'norefs.jsonl')
    writeFileSync(noRefs, `${JSON.stringify({ instruction: 'say hi' })}\n`)
    const result = await finish(['eval', '--set', noRefs, '--a', modelA, '--b', modelB, '--data-dir', dataDir])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('the reference judge needs a reference for every item; 1 of 1 have none')
  })
})
