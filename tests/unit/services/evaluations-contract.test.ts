/**
 * Evaluation sets, results, human votes, cancel/resume and the compare view's
 * generation, all through the contract (dispatch) of a real backend with its
 * worker threads.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CompareDone, CompareToken, EvaluationDone, EvaluationProgress, EvaluationResults, EvalSetSummary, MethodName, ReadyMadeSet, Vote } from '../../../src-main/api/contract'
import { openBackend, type Backend } from '../../../src-main/services/backend'
import { openStore } from '../../../src-main/store'
import { writeTinyTextModel } from '../../fixtures/fixtures'
import { sourceWorker } from '../../fixtures/workers'
import { callBackend } from '../../fixtures/backend'

const root = mkdtempSync(join(tmpdir(), 'evaluations-contract-'))
const modelA = join(root, 'a')
const modelB = join(root, 'b')
const dataDir = join(root, 'data')
const backends: Backend[] = []

/** The sets shipped in the repository (what the app offers as ready-made). */
const shippedEvalSets = join(__dirname, '../../../resources/eval')

function open(): Backend {
  const backend = openBackend({ transport: 'browser', dataDir, log: () => {}, bundledEvalSetsDir: shippedEvalSets, evaluationWorker: sourceWorker('evaluation-worker'), compareWorker: sourceWorker('compare-worker') })
  backends.push(backend)
  return backend
}

function writeSet(name: string, n: number, withReferences = true): string {
  const file = join(root, name)
  writeFileSync(file, `${Array.from({ length: n }, (_, i) => JSON.stringify({ instruction: `say ${i}`, ...(withReferences ? { reference: `${i} ${i}` } : {}) })).join('\n')}\n`)
  return file
}

const call = <T>(backend: Backend, method: MethodName, params: unknown) => callBackend<T>(backend, method, params)

/** Starts an evaluation; resolves with its end and every progress event. `onProgress` may act mid-run (cancel). */
async function evaluate(backend: Backend, params: Record<string, unknown>, onProgress?: (p: EvaluationProgress, id: string) => void) {
  const progress: EvaluationProgress[] = []
  let id = ''
  const finished = new Promise<EvaluationDone>((resolve) => {
    const stop = backend.subscribe((event, payload) => {
      const p = payload as EvaluationProgress & EvaluationDone
      if (p.evaluationId !== id) return
      if (event === 'evaluation.progress') {
        progress.push(p)
        onProgress?.(p, id)
      }
      if (event === 'evaluation.done') {
        stop()
        resolve(p)
      }
    })
  })
  id = (await call<{ evaluationId: string }>(backend, 'evaluations.start', params)).evaluationId
  return { done: await finished, progress, evaluationId: id }
}

function countGenerations(setId: string): number {
  const store = openStore(join(dataDir, 'sorted.db'))
  try {
    return store.evals.items(setId).reduce((sum, item) => sum + store.evals.generations(item.id).length, 0)
  } finally {
    store.close()
  }
}

beforeAll(() => {
  writeTinyTextModel(modelA, { seed: 1 })
  writeTinyTextModel(modelB, { seed: 2 })
})

afterAll(async () => {
  for (const b of backends) await b.close()
  rmSync(root, { recursive: true, force: true })
})

describe('evaluation sets through the contract', () => {
  it('imports a set once, lists it with its reference count, and deletes it', async () => {
    const backend = open()
    const file = writeSet('three.jsonl', 3)
    const { set } = await call<{ set: EvalSetSummary }>(backend, 'evaluations.importSet', { path: file })
    expect(set).toMatchObject({ format: 'plain', itemCount: 3, withReferences: 3 })
    expect((await call<{ set: EvalSetSummary }>(backend, 'evaluations.importSet', { path: file })).set.id).toBe(set.id)
    expect((await call<{ sets: EvalSetSummary[] }>(backend, 'evaluations.sets', {})).sets.map((s) => s.id)).toContain(set.id)

    await call(backend, 'evaluations.removeSet', { setId: set.id })
    expect((await call<{ sets: EvalSetSummary[] }>(backend, 'evaluations.sets', {})).sets.map((s) => s.id)).not.toContain(set.id)
    expect(await backend.dispatch('evaluations.removeSet', { setId: set.id })).toMatchObject({ ok: false, error: { code: 'not_found' } })
  })

  it('names the file, line and field of every bad record, and imports nothing', async () => {
    const backend = open()
    const bad = join(root, 'bad.jsonl')
    writeFileSync(bad, `${JSON.stringify({ instruction: 'ok' })}\n{"instruction": 5}\nnot json\n`)
    const before = (await call<{ sets: EvalSetSummary[] }>(backend, 'evaluations.sets', {})).sets.length
    const outcome = await backend.dispatch('evaluations.importSet', { path: bad })
    expect(outcome.ok).toBe(false)
    if (outcome.ok) return
    expect(outcome.error.code).toBe('invalid_params')
    expect(outcome.error.message).toContain(`${bad}:2: field "instruction"`)
    expect(outcome.error.message).toContain(`${bad}:3: not valid JSON`)
    expect((await call<{ sets: EvalSetSummary[] }>(backend, 'evaluations.sets', {})).sets).toHaveLength(before)
  })

  it("offers the shipped sets ready-made: PandaLM's 170 instructions and the dictionary held-out set, each imported once", async () => {
    const backend = open()
    const { sets: offered } = await call<{ sets: ReadyMadeSet[] }>(backend, 'evaluations.readyMadeSets', {})
    expect(offered.map((s) => [s.id, s.itemCount, s.withReferences])).toEqual([
      ['pandalm-inference', 170, 0],
      ['dictionary-heldout', 96, 96],
    ])
    const { set } = await call<{ set: EvalSetSummary }>(backend, 'evaluations.importReadyMadeSet', { id: 'pandalm-inference' })
    expect(set).toMatchObject({ name: offered[0]!.name, format: 'pandalm', itemCount: 170, withReferences: 0 })
    expect((await call<{ set: EvalSetSummary }>(backend, 'evaluations.importReadyMadeSet', { id: 'pandalm-inference' })).set.id).toBe(set.id)
    expect(await backend.dispatch('evaluations.importReadyMadeSet', { id: 'nope' })).toMatchObject({ ok: false, error: { code: 'not_found', message: expect.stringContaining('nope') } })
    await call(backend, 'evaluations.removeSet', { setId: set.id })
  })

  it('offers no ready-made set where the app has no shipped sets folder', async () => {
    const backend = openBackend({ transport: 'browser', dataDir, log: () => {} })
    backends.push(backend)
    expect(await call(backend, 'evaluations.readyMadeSets', {})).toEqual({ sets: [] })
  })

  it('tells a missing file apart', async () => {
    const outcome = await open().dispatch('evaluations.importSet', { path: join(root, 'nope.jsonl') })
    expect(outcome).toMatchObject({ ok: false, error: { code: 'invalid_params', message: expect.stringContaining('nope.jsonl: cannot be read') } })
  })
})

describe('batch evaluations through the contract', { timeout: 120_000 }, () => {
  it('reports progress per stage and overall, then results that reload from the database after a restart', async () => {
    let backend = open()
    const { set } = await call<{ set: EvalSetSummary }>(backend, 'evaluations.importSet', { path: writeSet('four.jsonl', 4) })
    const { done, progress } = await evaluate(backend, { setId: set.id, a: { modelPath: modelA }, b: { modelPath: modelB }, matrix: true, maxNewTokens: 4 })
    expect(done).toMatchObject({ ok: true, setId: set.id, judge: 'reference', work: { answersGenerated: 16, answersReused: 0, judgementsMade: 12 } })

    // B's 4 answers, then per exit of A (3) its 4 answers and 4 judgements.
    const last = progress.at(-1)!
    expect([last.overallDone, last.overallTotal]).toEqual([28, 28])
    expect(progress.every((p, i) => i === 0 || p.overallDone >= progress[i - 1]!.overallDone)).toBe(true)
    expect(progress.map((p) => p.stage)).toContain('judging @2')
    expect(last.etaSeconds).not.toBeNull()

    const results = await call<EvaluationResults>(backend, 'evaluations.results', { setId: set.id })
    const [matrix] = results.matrices
    expect(matrix).toMatchObject({ judge: 'reference', maxNewTokens: 4, model: { modelName: 'a', modelPath: modelA } })
    expect(matrix!.opponents.map((o) => [o.modelName, o.exit])).toEqual([['b', 3]])
    expect(matrix!.rows.map((r) => [r.exit, r.cells[0]?.n])).toEqual([[1, 4], [2, 4], [3, 4]])
    for (const [i, row] of matrix!.rows.entries()) {
      expect(row.cells[0]).toMatchObject({ wins: done.rows[i]!.wins, losses: done.rows[i]!.losses, ties: done.rows[i]!.ties, score: done.rows[i]!.score })
      expect(row.tokensPerSecond).toBeCloseTo(done.rows[i]!.tokensPerSecond, 9)
    }

    await backend.close()
    backend = open()
    expect(await call<EvaluationResults>(backend, 'evaluations.results', { setId: set.id })).toEqual(results)
  })

  it('cancels a running evaluation, keeping what it stored; starting it again resumes without regenerating', async () => {
    const backend = open()
    const { set } = await call<{ set: EvalSetSummary }>(backend, 'evaluations.importSet', { path: writeSet('forty.jsonl', 40) })
    const request = { setId: set.id, a: { modelPath: modelA, exit: 1 }, b: { modelPath: modelB }, maxNewTokens: 24 }
    let cancelled = false
    const first = await evaluate(backend, request, (p, id) => {
      if (!cancelled && p.overallDone >= 2) {
        cancelled = true
        void backend.dispatch('evaluations.cancel', { evaluationId: id })
      }
    })
    expect(first.done).toMatchObject({ ok: false, cancelled: true, error: 'cancelled', setId: set.id })
    expect((await call<{ evaluations: unknown[] }>(backend, 'evaluations.running', {})).evaluations).toEqual([])
    expect(await backend.dispatch('evaluations.cancel', { evaluationId: first.evaluationId })).toMatchObject({ ok: false, error: { code: 'not_found' } })

    const stored = countGenerations(set.id)
    expect(stored).toBeGreaterThan(0)
    expect(stored).toBeLessThan(80)

    const resumed = await evaluate(backend, request)
    expect(resumed.done).toMatchObject({ ok: true, work: { answersReused: stored, answersGenerated: 80 - stored, judgementsMade: 40 } })
    expect(resumed.done.rows[0]!.n).toBe(40)
    expect(countGenerations(set.id)).toBe(80)
  })

  it('lists a running evaluation with its latest progress', async () => {
    const backend = open()
    const { set } = await call<{ set: EvalSetSummary }>(backend, 'evaluations.importSet', { path: writeSet('five.jsonl', 5) })
    let seen: { evaluations: { evaluationId: string; setId?: string; progress?: EvaluationProgress }[] } | undefined
    const run = evaluate(backend, { setId: set.id, a: { modelPath: modelA, exit: 2 }, b: { modelPath: modelB }, maxNewTokens: 4 }, (_, id) => {
      if (!seen) {
        seen = { evaluations: [] }
        void call<typeof seen>(backend, 'evaluations.running', {}).then((r) => (seen = { evaluations: r.evaluations.filter((e) => e.evaluationId === id) }))
      }
    })
    await run
    expect(seen!.evaluations).toEqual([expect.objectContaining({ setId: set.id, progress: expect.objectContaining({ overallTotal: 15 }) })])
  })

  it('refuses to delete a set an evaluation is running on', async () => {
    const backend = open()
    const { set } = await call<{ set: EvalSetSummary }>(backend, 'evaluations.importSet', { path: writeSet('busy.jsonl', 20) })
    let refused: unknown
    await evaluate(backend, { setId: set.id, a: { modelPath: modelA, exit: 1 }, b: { modelPath: modelB }, maxNewTokens: 16 }, (_, id) => {
      if (refused) return
      refused = 'pending'
      void backend.dispatch('evaluations.removeSet', { setId: set.id }).then((outcome) => {
        refused = outcome
        void backend.dispatch('evaluations.cancel', { evaluationId: id })
      })
    })
    expect(refused).toMatchObject({ ok: false, error: { code: 'conflict' } })
  })

  it('judges every exit of a model against its own full model, leaving out the full model against itself', async () => {
    const backend = open()
    const { done } = await evaluate(backend, { setPath: writeSet('self.jsonl', 3), a: { modelPath: modelA }, b: { modelPath: modelA }, matrix: true, maxNewTokens: 4 })
    expect(done.ok).toBe(true)
    expect(done.rows.map((r) => [r.exit, r.n])).toEqual([[1, 3], [2, 3]])
    // The full model's answers serve as B's and are generated once.
    expect(done.work).toMatchObject({ answersGenerated: 9, judgementsMade: 6 })
  })

  it('validates a request: one of setPath and setId', async () => {
    const outcome = await open().dispatch('evaluations.start', { a: { modelPath: modelA }, b: { modelPath: modelB } })
    expect(outcome).toMatchObject({ ok: false, error: { code: 'invalid_params', issues: [{ path: 'setPath' }] } })
  })
})

describe('the compare view through the contract', { timeout: 120_000 }, () => {
  async function compare(backend: Backend, params: Record<string, unknown>) {
    const tokens: CompareToken[] = []
    const done = new Map<string, CompareDone>()
    let id = ''
    const finished = new Promise<void>((resolve) => {
      const stop = backend.subscribe((event, payload) => {
        const p = payload as CompareToken & CompareDone
        if (p.compareId !== id) return
        if (event === 'compare.token') tokens.push(p)
        if (event === 'compare.done') {
          done.set(p.side, p)
          if (done.size === 2) {
            stop()
            resolve()
          }
        }
      })
    })
    id = (await call<{ compareId: string }>(backend, 'compare.generate', params)).compareId
    await finished
    return { tokens, a: done.get('a')!, b: done.get('b')! }
  }

  it('streams one prompt from two contenders, stores both answers, and takes a vote on them', async () => {
    const backend = open()
    const { tokens, a, b } = await compare(backend, { prompt: 'say hi', a: { modelPath: modelA, exit: 1 }, b: { modelPath: modelA }, maxNewTokens: 6 })

    expect(a).toMatchObject({ exit: 1, generationId: expect.any(String), itemId: expect.any(String) })
    expect(b).toMatchObject({ exit: 3, generationId: expect.any(String), itemId: a.itemId })
    for (const [side, done] of [['a', a], ['b', b]] as const) {
      expect(['eos', 'length']).toContain(done.finishReason)
      // What streamed is what finished: the tokens add up to the answer.
      expect(tokens.filter((t) => t.side === side).map((t) => t.text).join('')).toBe(done.text)
    }
    expect(tokens.filter((t) => t.side === 'a').length).toBeGreaterThan(0)

    const { vote } = await call<{ vote: Vote }>(backend, 'evaluations.vote', { firstGenerationId: a.generationId, secondGenerationId: b.generationId, verdict: '1' })
    expect(vote).toMatchObject({ instruction: 'say hi', a: { exit: 1, modelPath: modelA, output: a.text.trim() }, b: { exit: 3 }, ab: '1', ba: '2', preferred: 'a' })

    const { votes } = await call<{ votes: Vote[] }>(backend, 'evaluations.votes', { setId: vote.setId })
    expect(votes.map((v) => v.comparisonId)).toEqual([vote.comparisonId])
    const sets = (await call<{ sets: EvalSetSummary[] }>(backend, 'evaluations.sets', {})).sets
    expect(sets.find((s) => s.id === vote.setId)).toMatchObject({ name: 'Compare view', format: 'compare', itemCount: 1 })
    const results = await call<EvaluationResults>(backend, 'evaluations.results', { setId: vote.setId, judge: 'human' })
    expect(results.pairs).toEqual([expect.objectContaining({ judge: 'human', wins: 1, losses: 0, ties: 0, n: 1 })])
  })

  it('refuses a wrong folder, an exit beyond the model, and the same contender twice, naming the field', async () => {
    const backend = open()
    const missing = await backend.dispatch('compare.generate', { prompt: 'x', a: { modelPath: join(root, 'nowhere') }, b: { modelPath: modelA } })
    expect(missing).toMatchObject({ ok: false, error: { code: 'invalid_params', issues: [{ path: 'a.modelPath' }] } })
    const deep = await backend.dispatch('compare.generate', { prompt: 'x', a: { modelPath: modelA, exit: 9 }, b: { modelPath: modelA } })
    expect(deep).toMatchObject({ ok: false, error: { code: 'invalid_params', issues: [{ path: 'a.exit' }] } })
    const same = await backend.dispatch('compare.generate', { prompt: 'x', a: { modelPath: modelA, exit: 3 }, b: { modelPath: modelA } })
    expect(same).toMatchObject({ ok: false, error: { code: 'invalid_params', issues: [{ path: 'b.exit' }] } })
    const empty = await backend.dispatch('compare.generate', { prompt: '  ', a: { modelPath: modelA, exit: 1 }, b: { modelPath: modelA } })
    expect(empty).toMatchObject({ ok: false, error: { code: 'invalid_params', issues: [{ path: 'prompt' }] } })
  })

  it('pits int4 against fp32 of the same model and exit: each side runs and is stored in its own precision', async () => {
    const backend = open()
    const { a, b } = await compare(backend, { prompt: 'say int4', a: { modelPath: modelA, exit: 3, precision: 'int4' }, b: { modelPath: modelA, exit: 3 }, maxNewTokens: 4 })
    expect(a).toMatchObject({ exit: 3, precision: 'int4', generationId: expect.any(String) })
    expect(b).toMatchObject({ exit: 3, precision: 'fp32', generationId: expect.any(String) })
    expect(a.generationId).not.toBe(b.generationId)
    // Both answers are kept, so a vote between them means int4 against fp32.
    const { vote } = await call<{ vote: Vote }>(backend, 'evaluations.vote', { firstGenerationId: a.generationId, secondGenerationId: b.generationId, verdict: 'Tie' })
    expect(vote).toMatchObject({ a: { exit: 3, precision: 'int4', mode: null }, b: { exit: 3, precision: 'fp32', mode: null } })
    const same = await backend.dispatch('compare.generate', { prompt: 'x', a: { modelPath: modelA, precision: 'int8' }, b: { modelPath: modelA, precision: 'int8' } })
    expect(same).toMatchObject({ ok: false, error: { code: 'invalid_params', issues: [{ path: 'b.exit' }] } })
  })

  it('answers a side in Exact or Auto mode: stored under its mode with its stats, reported with acceptance or mean exit', async () => {
    const backend = open()
    const { a, b } = await compare(backend, { prompt: 'say modes', a: { modelPath: modelA, mode: { kind: 'exact' } }, b: { modelPath: modelA, mode: { kind: 'auto', tau: 0.5 } }, maxNewTokens: 4 })
    expect(a).toMatchObject({ exit: 3, mode: { kind: 'exact' }, generationId: expect.any(String) })
    expect(b).toMatchObject({ exit: 3, mode: { kind: 'auto', tau: 0.5 }, generationId: expect.any(String) })
    expect(a.acceptanceRate === null || (a.acceptanceRate! >= 0 && a.acceptanceRate! <= 1)).toBe(true)
    expect(b.meanExit).toBeGreaterThanOrEqual(1)
    expect(b.meanExit).toBeLessThanOrEqual(3)
    // Stored as batch evaluations and `sorted eval` store them, so results tell them apart from the fp32 full model.
    const { vote } = await call<{ vote: Vote }>(backend, 'evaluations.vote', { firstGenerationId: a.generationId, secondGenerationId: b.generationId, verdict: 'Tie' })
    const results = await call<EvaluationResults>(backend, 'evaluations.results', { setId: vote.setId, judge: 'human' })
    // (The compare set holds the earlier tests' pairs too: fixed exits, no mode.)
    expect(results.pairs.filter((p) => p.a.mode || p.b.mode).map((p) => [p.a.mode, p.b.mode])).toEqual([[{ kind: 'exact' }, { kind: 'auto', tau: 0.5 }]])

    const both = await backend.dispatch('compare.generate', { prompt: 'x', a: { modelPath: modelA, exit: 2, mode: { kind: 'exact' } }, b: { modelPath: modelA } })
    expect(both).toMatchObject({ ok: false, error: { code: 'invalid_params', issues: [{ path: 'a.exit' }] } })
    const same = await backend.dispatch('compare.generate', { prompt: 'x', a: { modelPath: modelA, mode: { kind: 'exact' } }, b: { modelPath: modelA, mode: { kind: 'exact' } } })
    expect(same).toMatchObject({ ok: false, error: { code: 'invalid_params', issues: [{ path: 'b.exit' }] } })
  })

  it('stores nothing for a comparison cancelled before any answer', async () => {
    const backend = open()
    const before = (await call<{ sets: EvalSetSummary[] }>(backend, 'evaluations.sets', {})).sets.find((s) => s.format === 'compare')?.itemCount ?? 0
    const done: CompareDone[] = []
    let id = ''
    const finished = new Promise<void>((resolve) =>
      backend.subscribe((event, payload) => {
        const p = payload as CompareDone
        if (event === 'compare.done' && p.compareId === id && done.push(p) === 2) resolve()
      }),
    )
    id = (await call<{ compareId: string }>(backend, 'compare.generate', { prompt: 'say ho', a: { modelPath: modelB, exit: 1 }, b: { modelPath: modelB, exit: 2 }, maxNewTokens: 200 })).compareId
    await call(backend, 'compare.cancel', { compareId: id })
    await finished
    expect(done.map((d) => d.finishReason)).toEqual(['cancelled', 'cancelled'])
    expect(done.every((d) => d.generationId === undefined)).toBe(true)
    const after = (await call<{ sets: EvalSetSummary[] }>(backend, 'evaluations.sets', {})).sets.find((s) => s.format === 'compare')?.itemCount ?? 0
    expect(after).toBe(before)
  })

  it('inspects a model folder without loading it', async () => {
    const backend = open()
    // toMatchObject: the tuning wizard's fields (sizes, tokenizer, chat template) come along.
    expect(await call(backend, 'models.inspect', { path: modelA })).toMatchObject({ path: modelA, name: 'a', architecture: 'LlamaForCausalLM', numLayers: 3, exits: [1, 2, 3] })
    expect(await backend.dispatch('models.inspect', { path: root })).toMatchObject({ ok: false, error: { code: 'invalid_params', message: expect.stringContaining('config.json') } })
  })
})
