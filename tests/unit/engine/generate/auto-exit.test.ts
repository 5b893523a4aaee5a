import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generate } from '../../../../src-main/engine/generate/generate'
import { DynamicDepthRuntime } from '../../../../src-main/engine/generate/runtime'
import { DynamicSequence } from '../../../../src-main/engine/generate/sequence'
import { argmax } from '../../../../src-main/engine/generate/sampling'
import { topProbability } from '../../../../src-main/engine/generate/speculative'
import { tinyConfig, tinyWeights } from './random-model'

const shape = { layers: 6, heads: 4, kvHeads: 2, vocab: 32, seed: 13 }
const L = shape.layers
const prompt = [5, 17, 3, 22, 8, 11]

describe('Auto budget (first confident exit)', () => {
  let runtime: DynamicDepthRuntime
  beforeAll(async () => {
    const config = tinyConfig(shape)
    runtime = await DynamicDepthRuntime.load(config, tinyWeights(config, shape.seed))
  })
  afterAll(() => runtime.release())

  const fresh = async (context: number[], exit: number) => (await new DynamicSequence(runtime).advance(context, exit)).logits

  it('each token comes from the first exit whose head is confident, and is that exit’s exact choice', async () => {
    const ladder = [2, 4, 6]
    // A threshold inside the range the heads reach, so tokens stop at different exits.
    const tau = 0.12
    const result = await generate({ sequence: new DynamicSequence(runtime), prompt, maxNewTokens: 16, exitAt: () => ({ auto: tau }), autoExits: [2, 4] })
    expect(new Set(result.exits).size).toBeGreaterThan(1)
    for (const [t, token] of result.tokens.entries()) {
      const context = [...prompt, ...result.tokens.slice(0, t)]
      const exit = result.exits[t]!
      expect(ladder).toContain(exit)
      for (const shallower of ladder.filter((e) => e < exit)) expect(topProbability(await fresh(context, shallower))).toBeLessThan(tau)
      const logits = await fresh(context, exit)
      if (exit < L) expect(topProbability(logits)).toBeGreaterThanOrEqual(tau)
      expect(token, `token ${t} at exit ${exit}`).toBe(argmax(logits))
    }
  })

  it('τ above 1 is the full model; τ 0 is the first exit', async () => {
    const full = await generate({ sequence: new DynamicSequence(runtime), prompt, maxNewTokens: 10, exitAt: () => L })
    const never = await generate({ sequence: new DynamicSequence(runtime), prompt, maxNewTokens: 10, exitAt: () => ({ auto: 1.01 }), autoExits: [1, 3] })
    expect(never.tokens).toEqual(full.tokens)
    expect(never.exits).toEqual(full.tokens.map(() => L))
    const shallow = await generate({ sequence: new DynamicSequence(runtime), prompt, maxNewTokens: 10, exitAt: () => 1 })
    const always = await generate({ sequence: new DynamicSequence(runtime), prompt, maxNewTokens: 10, exitAt: () => ({ auto: 0 }), autoExits: [1, 3] })
    expect(always.tokens).toEqual(shallow.tokens)
    expect(always.exits).toEqual(shallow.tokens.map(() => 1))
  })

  it('deepening a position twice is refused', async () => {
    const sequence = new DynamicSequence(runtime)
    await sequence.advance(prompt, 3)
    await expect(sequence.deepen(2)).rejects.toThrow('only positions that layer 2 has not run')
    expect(sequence.tokens).toEqual(prompt)
  })
})
