import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { EvaluationDone } from '../../../src-main/api/contract'
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

  it('validates the request: the judge field names what it accepts', async () => {
    const outcome = await backend.dispatch('evaluations.start', { setPath: set, a: { modelPath: modelA }, b: { modelPath: modelB }, judge: 'gpt' })
    expect(outcome).toMatchObject({ ok: false, error: { code: 'invalid_params', issues: [{ path: 'judge' }] } })
  })
})
