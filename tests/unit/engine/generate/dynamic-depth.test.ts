import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generate } from '../../../../src-main/engine/generate/generate'
import { DynamicDepthRuntime } from '../../../../src-main/engine/generate/runtime'
import { CHUNK, DynamicSequence } from '../../../../src-main/engine/generate/sequence'
import type { WeightPrecision } from '../../../../src-main/engine/model/quant/linear'
import type { ModelConfig, ModelWeights } from '../../../../src-main/engine/model/types'
import { tinyConfig, tinyWeights, type TinyShape } from './random-model'
import { argmax, referenceLogits } from './reference'

/** Max |a − b| relative to the largest reference logit. */
function closeness(actual: Float32Array, expected: Float64Array): number {
  const scale = Math.max(1, ...Array.from(expected, Math.abs))
  return Math.max(...Array.from(expected, (e, i) => Math.abs(actual[i]! - e))) / scale
}

interface Loaded {
  config: ModelConfig
  weights: ModelWeights
  runtime: DynamicDepthRuntime
}

async function load(shape: TinyShape, precision: WeightPrecision = 'fp32'): Promise<Loaded> {
  const config = tinyConfig(shape)
  const weights = tinyWeights(config, shape.seed ?? 3)
  return { config, weights, runtime: await DynamicDepthRuntime.load(config, weights, { weights: { precision } }) }
}

const prompt = [5, 17, 3, 42, 8, 11]

describe.each<[string, TinyShape]>([
  ['Llama with GQA', { architecture: 'llama', heads: 4, kvHeads: 2 }],
  ['Llama with tied embeddings', { architecture: 'llama', heads: 4, kvHeads: 4, tied: true }],
  ['Qwen2 (q/k/v biases)', { architecture: 'qwen2', heads: 4, kvHeads: 1 }],
  ['Qwen3 (q/k norm, explicit head_dim)', { architecture: 'qwen3', heads: 2, kvHeads: 1, headDim: 12 }],
])('%s: ONNX graphs against the naive reference', (_name, shape) => {
  let model: Loaded
  beforeAll(async () => {
    model = await load(shape)
  })
  afterAll(() => model.runtime.release())

  it('prefill logits match at every exit', async () => {
    for (let exit = 1; exit <= model.config.numLayers; exit++) {
      const sequence = new DynamicSequence(model.runtime)
      const { logits } = await sequence.advance(prompt, exit)
      const expected = referenceLogits(model.config, model.weights, prompt, exit).at(-1)!
      expect(closeness(logits, expected)).toBeLessThan(1e-5)
    }
  })

  it('decode logits match at every exit, one token at a time after the prefill', async () => {
    for (let exit = 1; exit <= model.config.numLayers; exit++) {
      const sequence = new DynamicSequence(model.runtime)
      await sequence.advance(prompt.slice(0, 3), exit)
      for (let t = 3; t < prompt.length; t++) {
        const { logits } = await sequence.advance([prompt[t]!], exit)
        const expected = referenceLogits(model.config, model.weights, prompt.slice(0, t + 1), exit).at(-1)!
        expect(closeness(logits, expected)).toBeLessThan(1e-5)
      }
    }
  })
})

const exactnessShape: TinyShape = { layers: 6, heads: 4, kvHeads: 2, vocab: 64, seed: 11 }

/**
 * The contract in every weight precision: a token produced at exit e equals a
 * full recomputation at exit e in the same precision. For fp32 that is the
 * naive float64 reference; for int8 and int4 (MatMulNBits rounds activations
 * inside the kernel, which a naive loop does not copy) it is the same
 * quantized graphs run afresh over the whole context at exit e, with no cache,
 * catch-up or budget history.
 */
describe.each<WeightPrecision>(['fp32', 'int8', 'int4'])('the exactness contract under budget changes (greedy, %s weights)', (precision) => {
  let model: Loaded
  beforeAll(async () => {
    model = await load(exactnessShape, precision)
    expect(model.runtime.weights.precision).toBe(precision)
  })
  afterAll(() => model.runtime.release())

  /** Logits of the last position of `context`, computed from scratch at `exit`. */
  async function recomputed(context: number[], exit: number): Promise<ArrayLike<number>> {
    if (precision === 'fp32') return referenceLogits(model.config, model.weights, context, exit).at(-1)!
    return (await new DynamicSequence(model.runtime).advance(context, exit)).logits
  }

  /** Every token is the argmax of a full recomputation at the exit it was produced with. */
  async function checkSchedule(schedule: number[]): Promise<number> {
    const result = await generate({
      sequence: new DynamicSequence(model.runtime),
      prompt,
      maxNewTokens: schedule.length,
      exitAt: (index) => schedule[index]!,
    })
    expect(result.exits).toEqual(schedule)
    for (const [t, token] of result.tokens.entries()) {
      const context = [...prompt, ...result.tokens.slice(0, t)]
      expect(token, `token ${t} at exit ${schedule[t]}`).toBe(argmax(await recomputed(context, schedule[t]!)))
    }
    return result.caughtUp
  }

  it('holds when the budget goes down', async () => {
    expect(await checkSchedule([6, 6, 6, 3, 3, 1, 1, 1])).toBe(0)
  })

  it('holds when the budget goes up, catching deeper layers up in one pass', async () => {
    // Tokens 0–3 stopped at exit 2; moving to 6 runs layers 3–6 over all earlier positions.
    expect(await checkSchedule([2, 2, 2, 2, 6, 6, 6])).toBeGreaterThan(0)
  })

  it('holds for up-down-up schedules', async () => {
    await checkSchedule([1, 4, 4, 2, 2, 6, 3, 5, 1, 6])
  })

  it('a caught-up step gives the logits of a full recomputation in the same precision', async () => {
    const sequence = new DynamicSequence(model.runtime)
    await sequence.advance(prompt, 2)
    const step = await sequence.advance([9], 6)
    expect(step.caughtUp).toBeGreaterThan(0)
    const fresh = await new DynamicSequence(model.runtime).advance([...prompt, 9], 6)
    // Same graphs, same rounding: only the order of float sums may differ between a 1-row and a many-row pass.
    expect(closeness(step.logits, Float64Array.from(fresh.logits))).toBeLessThan(1e-5)
  })

  it('catches up only the positions a layer has not seen', async () => {
    const sequence = new DynamicSequence(model.runtime)
    await sequence.advance(prompt, 2)
    expect([0, 1, 2, 3, 4, 5].map((l) => sequence.cachedAt(l))).toEqual([6, 6, 0, 0, 0, 0])
    const step = await sequence.advance([9], 4)
    // Layers 3 and 4 each re-run the 6 earlier positions; the new token is not a catch-up.
    expect(step.caughtUp).toBe(12)
    expect([0, 1, 2, 3, 4, 5].map((l) => sequence.cachedAt(l))).toEqual([7, 7, 7, 7, 0, 0])
  })
})

describe('dynamic-depth sequences', () => {
  let model: Loaded
  beforeAll(async () => {
    model = await load(exactnessShape)
  })
  afterAll(() => model.runtime.release())

  it('refuses a token id outside the vocabulary, naming it', async () => {
    await expect(new DynamicSequence(model.runtime).advance([3, 64], 1)).rejects.toThrow("token id 64 is outside this model's vocabulary (0..63)")
  })

  it('runs a prompt longer than one pass in chunks, with the logits of one pass over all of it', async () => {
    // Attention over the whole prompt at once costs memory in its square; chunks attend to the cache instead.
    const long = Array.from({ length: 2 * CHUNK + 37 }, (_, i) => (i * 7 + 3) % 64)
    const sequence = new DynamicSequence(model.runtime)
    const { logits } = await sequence.advance(long, 3)
    expect(closeness(logits, referenceLogits(model.config, model.weights, long, 3).at(-1)!)).toBeLessThan(1e-5)
    // Catching deeper layers up over all those positions goes in chunks too.
    const step = await sequence.advance([9], 6)
    expect(step.caughtUp).toBe(3 * long.length)
    expect(closeness(step.logits, referenceLogits(model.config, model.weights, [...long, 9], 6).at(-1)!)).toBeLessThan(1e-5)
  })

  it('never grows past the context, naming the limit', async () => {
    const sequence = new DynamicSequence(model.runtime)
    await expect(sequence.advance(new Array(model.config.maxPositionEmbeddings + 1).fill(1), 1)).rejects.toThrow(
      `the sequence would be ${model.config.maxPositionEmbeddings + 1} tokens, but this model's context is ${model.config.maxPositionEmbeddings} tokens`,
    )
    expect(sequence.length).toBe(0)
  })
})

describe('generation controls', () => {
  let model: Loaded
  beforeAll(async () => {
    model = await load({ layers: 2, vocab: 64, seed: 5 })
  })
  afterAll(() => model.runtime.release())

  const run = (options: Partial<Parameters<typeof generate>[0]>) =>
    generate({ sequence: new DynamicSequence(model.runtime), prompt, maxNewTokens: 8, exitAt: () => 2, ...options })

  it('the same seed gives the same sampled tokens; another seed differs', async () => {
    const sampling = { temperature: 1.5, topK: 20, topP: 0.95, seed: 7 }
    const a = await run({ sampling })
    const b = await run({ sampling })
    const c = await run({ sampling: { ...sampling, seed: 8 } })
    expect(a.tokens).toEqual(b.tokens)
    expect(c.tokens).not.toEqual(a.tokens)
  })

  it('top-k 1 is greedy', async () => {
    expect((await run({ sampling: { temperature: 1, topK: 1, seed: 1 } })).tokens).toEqual((await run({})).tokens)
  })

  it('stops at an end-of-sequence token', async () => {
    const greedy = await run({})
    const eos = greedy.tokens[2]!
    const result = await run({ eosTokenIds: [eos] })
    expect(result.finishReason).toBe('eos')
    expect(result.tokens).toEqual(greedy.tokens.slice(0, greedy.tokens.indexOf(eos) + 1))
  })

  it('stops at a stop string and leaves it out of the text', async () => {
    const detokenizer = { push: (id: number) => `<${id}>`, flush: () => '' }
    const greedy = await run({ detokenizer })
    const stop = `<${greedy.tokens[3]}>`
    const result = await run({ detokenizer, stopStrings: [stop] })
    expect(result.finishReason).toBe('stop')
    expect(result.text).toBe(greedy.text.slice(0, greedy.text.indexOf(stop)))
  })

  it('can be cancelled between tokens', async () => {
    const controller = new AbortController()
    const result = await run({ signal: controller.signal, onToken: (t) => t.index === 2 && controller.abort() })
    expect(result.finishReason).toBe('cancelled')
    expect(result.tokens).toHaveLength(3)
  })

  it('streams every token with the exit that produced it', async () => {
    const seen: [number, number][] = []
    const result = await run({ exitAt: (i) => (i < 4 ? 1 : 2), onToken: (t) => seen.push([t.id, t.exit]) })
    expect(seen).toEqual(result.tokens.map((id, i) => [id, result.exits[i]]))
    expect(result.exits).toEqual([1, 1, 1, 1, 2, 2, 2, 2])
  })
})
