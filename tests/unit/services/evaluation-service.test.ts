import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { EvaluationDone, EvaluationResults } from '../../../src-main/api/contract'
import { openBackend, type Backend } from '../../../src-main/services/backend'
import { writeTinyTextModel } from '../../fixtures/fixtures'
import { sourceWorker } from '../../fixtures/workers'

const root = mkdtempSync(join(tmpdir(), 'evaluation-service-'))
const modelA = join(root, 'a')
const modelB = join(root, 'b')
const set = join(root, 'set.jsonl')
let backend: Backend

beforeAll(() => {
  writeTinyTextModel(modelA, { seed: 1 })
  writeTinyTextModel(modelB, { seed: 2 })
  writeFileSync(set, `${['hi', 'ho', 'ha'].map((w) => JSON.stringify({ instruction: `say ${w}`, reference: w })).join('\n')}\n`)
  backend = openBackend({
    transport: 'browser',
    dataDir: join(root, 'data'),
    log: () => {},
    evaluationWorker: sourceWorker('evaluation-worker'),
  })
})

afterAll(async () => {
  await backend.close()
  rmSync(root, { recursive: true, force: true })
})

async function evaluate(params: Record<string, unknown>): Promise<{ done: EvaluationDone; stages: string[] }> {
  const stages: string[] = []
  let id = ''
  const finished = new Promise<EvaluationDone>((resolve) => {
    const stop = backend.subscribe((event, payload) => {
      const p = payload as { evaluationId: string; stage?: string }
      if (event === 'evaluation.progress') stages.push(p.stage!)
      if (event === 'evaluation.done' && p.evaluationId === id) {
        stop()
        resolve(payload as EvaluationDone)
      }
    })
  })
  const outcome = await backend.dispatch('evaluations.start', params)
  if (!outcome.ok) throw new Error(outcome.error.message)
  id = (outcome.result as { evaluationId: string }).evaluationId
  return { done: await finished, stages }
}

describe('evaluation service (worker thread)', { timeout: 60_000 }, () => {
  it('judges every exit of A against B and returns quality next to speed, with progress on the way', async () => {
    const { done, stages } = await evaluate({ setPath: set, a: { modelPath: modelA }, b: { modelPath: modelB }, matrix: true, maxNewTokens: 4 })
    expect(done.ok).toBe(true)
    expect(done.judge).toBe('reference')
    expect(done.rows.map((r) => [r.exit, r.n])).toEqual([[1, 3], [2, 3], [3, 3]])
    for (const r of done.rows) {
      expect(r.wins + r.losses + r.ties).toBeCloseTo(3, 12)
      expect(r.tokensPerSecond).toBeGreaterThan(0)
    }
    expect(stages).toContain('judging @3')
  })

  it('reports a set the judge cannot use as a failed evaluation, with the reason', async () => {
    const noRefs = join(root, 'norefs.jsonl')
    writeFileSync(noRefs, `${JSON.stringify({ instruction: 'say hi' })}\n`)
    const { done } = await evaluate({ setPath: noRefs, a: { modelPath: modelA }, b: { modelPath: modelB } })
    expect(done).toMatchObject({ ok: false, rows: [], error: expect.stringContaining('needs a reference for every item') })
  })

  // maxNewTokens 5 and 6: answers of their own, apart from the other tests'.
  it('runs A in int4 against B in fp32 of the same model, records each in its precision and reuses them on a rerun', async () => {
    const int4 = { setPath: set, a: { modelPath: modelA, exit: 2, precision: 'int4' }, b: { modelPath: modelA, exit: 3 }, maxNewTokens: 5 }
    const first = await evaluate(int4)
    expect(first.done).toMatchObject({ ok: true, rows: [{ exit: 2, n: 3 }], work: { answersGenerated: 6, answersReused: 0, judgementsMade: 3 } })
    expect(first.done.contenders).toMatchObject({ a: { precision: 'int4', mode: 'exit', generated: 3 }, b: { precision: 'fp32', mode: 'exit', generated: 3 } })
    const again = await evaluate(int4)
    expect(again.done.work).toEqual({ answersGenerated: 0, answersReused: 6, judgementsMade: 0, judgementsReused: 3 })
    // fp32 at exit 2 is another contender: its answers are made, B's reused.
    const fp32 = await evaluate({ ...int4, a: { modelPath: modelA, exit: 2 } })
    expect(fp32.done.work).toEqual({ answersGenerated: 3, answersReused: 3, judgementsMade: 3, judgementsReused: 0 })

    const outcome = await backend.dispatch('evaluations.results', { setId: first.done.setId })
    if (!outcome.ok) throw new Error(outcome.error.message)
    const results = outcome.result as EvaluationResults
    const matrix = results.matrices.find((m) => m.maxNewTokens === 5)!
    expect(matrix.rows.map((r) => [r.exit, r.precision])).toEqual([
      [2, 'fp32'],
      [2, 'int4'],
    ])
    expect(matrix.opponents.map((o) => [o.exit, o.precision, o.mode])).toEqual([[3, 'fp32', null]])
  })

  it('runs A in Exact and in Auto mode, each recorded apart (acceptance and mean exit in the results) and reused', async () => {
    const exact = { setPath: set, a: { modelPath: modelA, mode: { kind: 'exact' } }, b: { modelPath: modelB }, maxNewTokens: 6 }
    expect((await evaluate(exact)).done).toMatchObject({ ok: true, rows: [{ exit: 3, n: 3 }], work: { answersGenerated: 6 } })
    expect((await evaluate(exact)).done.work).toEqual({ answersGenerated: 0, answersReused: 6, judgementsMade: 0, judgementsReused: 3 })
    const auto = await evaluate({ ...exact, a: { modelPath: modelA, mode: { kind: 'auto', tau: 0.5 } } })
    expect(auto.done.work).toEqual({ answersGenerated: 3, answersReused: 3, judgementsMade: 3, judgementsReused: 0 })
    expect(auto.done.contenders?.a).toMatchObject({ mode: 'auto', tau: 0.5, meanExit: expect.any(Number), generated: 3 })

    const outcome = await backend.dispatch('evaluations.results', { setId: auto.done.setId })
    if (!outcome.ok) throw new Error(outcome.error.message)
    const rows = (outcome.result as EvaluationResults).matrices.find((m) => m.maxNewTokens === 6)!.rows
    expect(rows.map((r) => r.mode)).toEqual([{ kind: 'exact' }, { kind: 'auto', tau: 0.5 }])
    expect(rows[0]!.acceptanceRate).toEqual(expect.any(Number))
    expect(rows[1]!.meanExit).toBeGreaterThanOrEqual(1)
    expect(rows[1]!.meanExit).toBeLessThanOrEqual(3)
  })

  it('refuses a mode together with an exit, and a matrix over A in a mode, naming the field', async () => {
    const both = await backend.dispatch('evaluations.start', { setPath: set, a: { modelPath: modelA, exit: 2, mode: { kind: 'exact' } }, b: { modelPath: modelB } })
    expect(both).toMatchObject({ ok: false, error: { code: 'invalid_params', issues: [{ path: 'a.exit' }] } })
    const matrix = await backend.dispatch('evaluations.start', { setPath: set, a: { modelPath: modelA, mode: { kind: 'auto', tau: 0.5 } }, b: { modelPath: modelB }, matrix: true })
    expect(matrix).toMatchObject({ ok: false, error: { code: 'invalid_params', issues: [{ path: 'a.mode' }] } })
    const tau = await backend.dispatch('evaluations.start', { setPath: set, a: { modelPath: modelA, mode: { kind: 'auto', tau: 2 } }, b: { modelPath: modelB } })
    expect(tau).toMatchObject({ ok: false, error: { code: 'invalid_params' } })
  })

  it('validates the request: the judge field names what it accepts', async () => {
    const outcome = await backend.dispatch('evaluations.start', { setPath: set, a: { modelPath: modelA }, b: { modelPath: modelB }, judge: 'gpt' })
    expect(outcome).toMatchObject({ ok: false, error: { code: 'invalid_params', issues: [{ path: 'judge' }] } })
  })
})
