import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generate } from '../../../../src-main/engine/generate/generate'
import { DynamicDepthRuntime } from '../../../../src-main/engine/generate/runtime'
import { tokenDistribution, type SamplingOptions } from '../../../../src-main/engine/generate/sampling'
import { DynamicSequence } from '../../../../src-main/engine/generate/sequence'
import { tinyConfig, tinyWeights } from './random-model'

/**
 * Exact mode with sampling must draw tokens distributed exactly as the full
 * model's. On a tiny vocabulary the full model's distribution of the second
 * and third new tokens (the ones a draft round produces) is computed by
 * enumeration, and Exact's samples are checked against it by chi-square.
 * The shallow exit of a random model disagrees with the full one, so
 * accepting drafts blindly (or rejecting wrongly) shows up at once.
 */
const shape = { layers: 4, heads: 2, kvHeads: 1, vocab: 8, seed: 21 }
const prompt = [1, 2, 3]
const sampling: SamplingOptions = { temperature: 1, topK: 6, topP: 0.95, repetitionPenalty: 1.3 }

/** Chi-square critical value at p = 0.001 (Wilson–Hilferty). */
function critical(df: number): number {
  const z = 3.09
  return df * (1 - 2 / (9 * df) + z * Math.sqrt(2 / (9 * df))) ** 3
}

/** Pearson's statistic of observed counts against expected probabilities, cells with expected count < 5 pooled. */
function chiSquare(observed: Map<string, number>, expected: Map<string, number>, n: number): { statistic: number; df: number } {
  let statistic = 0
  let cells = 0
  let pooledObserved = 0
  let pooledExpected = 0
  for (const [key, p] of expected) {
    const o = observed.get(key) ?? 0
    if (p * n < 5) {
      pooledObserved += o
      pooledExpected += p * n
      continue
    }
    statistic += (o - p * n) ** 2 / (p * n)
    cells++
  }
  if (pooledExpected > 0) {
    statistic += (pooledObserved - pooledExpected) ** 2 / pooledExpected
    cells++
  }
  for (const key of observed.keys()) if (!expected.has(key)) statistic = Infinity // a token the full model can never give
  return { statistic, df: cells - 1 }
}

describe('Exact with sampling (speculative-sampling rule)', () => {
  let runtime: DynamicDepthRuntime
  const L = shape.layers
  beforeAll(async () => {
    const config = tinyConfig(shape)
    runtime = await DynamicDepthRuntime.load(config, tinyWeights(config, shape.seed))
  })
  afterAll(() => runtime.release())

  /** The full model's shaped next-token distribution after `context`. */
  async function fullDistribution(context: number[]) {
    const { logits } = await new DynamicSequence(runtime).advance(context, L)
    return tokenDistribution(logits, context, sampling)
  }

  /** The full model's joint distribution of new tokens 1 and 2 ("a,b"), by enumeration. */
  async function expectedPairs(): Promise<Map<string, number>> {
    const pairs = new Map<string, number>()
    const first = await fullDistribution(prompt)
    for (const [i, t0] of first.ids.entries()) {
      const second = await fullDistribution([...prompt, t0])
      for (const [j, t1] of second.ids.entries()) {
        const third = await fullDistribution([...prompt, t0, t1])
        for (const [k, t2] of third.ids.entries()) {
          const key = `${t1},${t2}`
          pairs.set(key, (pairs.get(key) ?? 0) + first.probs[i]! * second.probs[j]! * third.probs[k]!)
        }
      }
    }
    return pairs
  }

  it.each([1, 2, 'auto'] as const)('draws tokens distributed as the full model (draft tokens %s)', async (draftTokens) => {
    const expected = await expectedPairs()
    const n = 1500
    const observed = new Map<string, number>()
    let drafted = 0
    let accepted = 0
    for (let seed = 0; seed < n; seed++) {
      const result = await generate({
        sequence: new DynamicSequence(runtime),
        prompt,
        maxNewTokens: 3,
        exitAt: () => 'exact',
        speculative: { draftExit: 1, draftTokens },
        sampling: { ...sampling, seed: seed + 1000 },
      })
      const key = `${result.tokens[1]},${result.tokens[2]}`
      observed.set(key, (observed.get(key) ?? 0) + 1)
      drafted += result.drafted
      accepted += result.accepted
    }
    // Both the accept and the reject path ran many times.
    expect(accepted).toBeGreaterThan(n / 10)
    expect(drafted - accepted).toBeGreaterThan(n / 10)
    const { statistic, df } = chiSquare(observed, expected, n)
    expect(df).toBeGreaterThan(3)
    expect(statistic).toBeLessThan(critical(df))
  })
})
