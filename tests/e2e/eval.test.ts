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

  it('explains that the reference judge needs references', async () => {
    const noRefs = join(root, 'norefs.jsonl')
    writeFileSync(noRefs, `${JSON.stringify({ instruction: 'say hi' })}\n`)
    const result = await finish(['eval', '--set', noRefs, '--a', modelA, '--b', modelB, '--data-dir', dataDir])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('the reference judge needs a reference for every item; 1 of 1 have none')
  })
})
