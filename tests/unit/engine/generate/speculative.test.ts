import { resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generate, type Depth, type GenerateOptions } from '../../../../src-main/engine/generate/generate'
import { ModelSession } from '../../../../src-main/engine/generate/model-session'
import { DynamicDepthRuntime } from '../../../../src-main/engine/generate/runtime'
import { DynamicSequence } from '../../../../src-main/engine/generate/sequence'
import type { DraftTokens } from '../../../../src-main/engine/generate/speculative'
import type { WeightPrecision } from '../../../../src-main/engine/model/quant/linear'
import type { ModelWeights } from '../../../../src-main/engine/model/types'
import { tinyConfig, tinyWeights } from './random-model'

const L = 6
const prompt = [5, 17, 3, 42, 8, 11]

/**
 * Random weights whose layers above 2 barely move the residual stream: the
 * shallow exits then mostly agree with the full model, but not always, so
 * rounds see full acceptance, partial acceptance and rejection.
 */
function agreeingWeights(): ModelWeights {
  const weights = tinyWeights(tinyConfig({ layers: L, heads: 4, kvHeads: 2, vocab: 64, seed: 11 }), 11)
  weights.layers.forEach((layer, l) => {
    if (l < 2) return
    layer.o = layer.o.map((v) => v * 0.15)
    layer.down = layer.down.map((v) => v * 0.15)
  })
  return weights
}

async function load(precision: WeightPrecision = 'fp32', weights = agreeingWeights()): Promise<DynamicDepthRuntime> {
  return DynamicDepthRuntime.load(tinyConfig({ layers: L, heads: 4, kvHeads: 2, vocab: 64, seed: 11 }), weights, { weights: { precision } })
}

function run(runtime: DynamicDepthRuntime, options: Partial<GenerateOptions>) {
  return generate({ sequence: new DynamicSequence(runtime), prompt, maxNewTokens: 24, exitAt: () => L, ...options })
}

describe.each<WeightPrecision>(['fp32', 'int8', 'int4'])('Exact (self-speculative, greedy, %s weights) is token-identical to the full model', (precision) => {
  let runtime: DynamicDepthRuntime
  beforeAll(async () => {
    runtime = await load(precision)
  })
  afterAll(() => runtime.release())

  it.each<[number, DraftTokens]>([
    [1, 1],
    [2, 4],
    [2, 'auto'],
    [3, 8],
    [5, 3],
  ])('draft exit %s, %s draft tokens', async (draftExit, draftTokens) => {
    const full = await run(runtime, {})
    const exact = await run(runtime, { exitAt: () => 'exact', speculative: { draftExit, draftTokens } })
    expect(exact.tokens).toEqual(full.tokens)
    expect(exact.exits).toEqual(full.tokens.map(() => L))
    expect(exact.drafted).toBeGreaterThan(0)
    expect(exact.accepted).toBeLessThanOrEqual(exact.drafted)
    expect(exact.draftedTokens.filter(Boolean)).toHaveLength(exact.accepted)
  })
})

describe('Exact decoding', () => {
  let runtime: DynamicDepthRuntime
  let full: Awaited<ReturnType<typeof run>>
  beforeAll(async () => {
    runtime = await load()
    full = await run(runtime, {})
  })
  afterAll(() => runtime.release())

  it('the test model accepts some drafts and rejects others, so both paths run', async () => {
    const exact = await run(runtime, { exitAt: () => 'exact', speculative: { draftExit: 2, draftTokens: 4 } })
    expect(exact.accepted).toBeGreaterThan(0)
    expect(exact.accepted).toBeLessThan(exact.drafted)
  })

  it('drafts no further than max new tokens allow', async () => {
    const exact = await run(runtime, { maxNewTokens: 3, exitAt: () => 'exact', speculative: { draftExit: 2, draftTokens: 8 } })
    expect(exact.tokens).toEqual(full.tokens.slice(0, 3))
    expect(exact.finishReason).toBe('length')
  })

  it('stops at an end-of-sequence token inside a draft', async () => {
    const eos = full.tokens[5]!
    const expected = full.tokens.slice(0, full.tokens.indexOf(eos) + 1)
    for (const draftTokens of [2, 8, 'auto'] as const) {
      const exact = await run(runtime, { eosTokenIds: [eos], exitAt: () => 'exact', speculative: { draftExit: 2, draftTokens } })
      expect(exact.tokens).toEqual(expected)
      expect(exact.finishReason).toBe('eos')
    }
  })

  it('stops at a stop string inside a draft, with the same text as the full model', async () => {
    const detokenizer = () => ({ push: (id: number) => `<${id}>`, flush: () => '' })
    const stop = `<${full.tokens[6]!}>`
    const reference = await run(runtime, { stopStrings: [stop], detokenizer: detokenizer() })
    const exact = await run(runtime, { stopStrings: [stop], detokenizer: detokenizer(), exitAt: () => 'exact', speculative: { draftExit: 2, draftTokens: 8 } })
    expect(reference.finishReason).toBe('stop')
    expect(exact.finishReason).toBe('stop')
    expect(exact.text).toBe(reference.text)
    expect(exact.tokens).toEqual(reference.tokens)
  })

  it('a slider move mid-draft leaves Exact for the layer stop, and moving back resumes it', async () => {
    // Exact tokens are the full model's; layer-stop tokens are that exit's, on the sequence so far.
    const schedule: Depth[] = ['exact', 'exact', 'exact', 2, 2, 'exact', 'exact', 'exact', 'exact', 'exact', 4, 'exact', 1, 1, 'exact', 'exact']
    const asExits = schedule.map((d) => (d === 'exact' ? L : d))
    const reference = await run(runtime, { maxNewTokens: schedule.length, exitAt: (i) => asExits[i]! })
    const exact = await run(runtime, { maxNewTokens: schedule.length, exitAt: (i) => schedule[i]!, speculative: { draftExit: 2, draftTokens: 8 } })
    expect(exact.tokens).toEqual(reference.tokens)
    expect(exact.exits).toEqual(asExits)
  })

  it('a rejected draft leaves no trace: later logits equal a full recomputation', async () => {
    const sequence = new DynamicSequence(runtime)
    const exact = await generate({ sequence, prompt, maxNewTokens: 12, exitAt: () => 'exact', speculative: { draftExit: 2, draftTokens: 4 } })
    expect(exact.drafted).toBeGreaterThan(exact.accepted) // some drafts were rolled back
    const context = [...prompt, ...exact.tokens]
    // The last token is pending: the sequence holds everything before it, at every layer.
    expect(sequence.tokens).toEqual(context.slice(0, -1))
    for (let l = 0; l < L; l++) expect(sequence.cachedAt(l)).toBe(context.length - 1)
    const next = await sequence.advance([exact.tokens.at(-1)!, 9], L, 2)
    const fresh = await new DynamicSequence(runtime).advance([...context, 9], L, 2)
    expect(Array.from(next.logits, (v, i) => Math.abs(v - fresh.logits[i]!)).every((d) => d < 1e-4)).toBe(true)
  })

  it('truncating a sequence forgets the cut positions in every layer', async () => {
    const sequence = new DynamicSequence(runtime)
    await sequence.advance(prompt, L)
    await sequence.advance([1, 2, 3], 2)
    await sequence.advance([4], 5)
    sequence.truncate(prompt.length + 1)
    expect(sequence.tokens).toEqual([...prompt, 1])
    expect(Array.from({ length: L }, (_, l) => sequence.cachedAt(l))).toEqual([7, 7, 7, 7, 7, 6])
    const step = await sequence.advance([7], L)
    const fresh = await new DynamicSequence(runtime).advance([...prompt, 1, 7], L)
    expect(Array.from(step.logits, (v, i) => Math.abs(v - fresh.logits[i]!)).every((d) => d < 1e-4)).toBe(true)
  })

  it('refuses a draft exit that is not below the full depth, naming it', async () => {
    await expect(run(runtime, { exitAt: () => 'exact', speculative: { draftExit: L, draftTokens: 2 } })).rejects.toThrow(`draft exit ${L} is outside 1..${L - 1}`)
  })
})

describe('Exact on a one-layer model', () => {
  it('has nothing to draft with: Exact is the full model, and a default draft exit does not get in the way', async () => {
    const config = tinyConfig({ layers: 1, vocab: 64, seed: 4 })
    const runtime = await DynamicDepthRuntime.load(config, tinyWeights(config, 4))
    try {
      const full = await generate({ sequence: new DynamicSequence(runtime), prompt, maxNewTokens: 6, exitAt: () => 1 })
      const exact = await generate({ sequence: new DynamicSequence(runtime), prompt, maxNewTokens: 6, exitAt: () => 'exact', speculative: { draftExit: 1 } })
      expect(exact.tokens).toEqual(full.tokens)
      expect(exact.drafted).toBe(0)
    } finally {
      await runtime.release()
    }
  })
})

describe('Exact on the bundled SoFT model (real trained exits)', () => {
  let session: ModelSession
  beforeAll(async () => {
    session = await ModelSession.open(resolve(__dirname, '../../../../resources/models/dictionary-soft'))
  })
  afterAll(() => session.release())

  it.each<[number, DraftTokens]>([
    [2, 'auto'],
    [4, 4],
    [6, 8],
  ])('greedy output equals full depth: draft exit %s, %s draft tokens', async (draftExit, draftTokens) => {
    const input = { prompt: 'Define the word "harbour".', chat: true }
    const full = session.info.numLayers
    const reference = await session.generate({ input, maxNewTokens: 32, exitAt: () => full })
    const exact = await session.generate({ input, maxNewTokens: 32, exitAt: () => 'exact', speculative: { draftExit, draftTokens } })
    expect(exact.tokens).toEqual(reference.tokens)
    expect(exact.text).toBe(reference.text)
    expect(exact.accepted).toBeGreaterThan(0)
  })
})
