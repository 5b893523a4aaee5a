/**
 * Exact mode (self-speculative decoding) against full depth, at identical
 * greedy output:
 *
 * - bundled: the bundled SoFT model (real trained exits), chat answers to the
 *   held-out prompts (resources/eval/dictionary-heldout.jsonl), stopping at
 *   end-of-sequence as the app does. Decode tokens/s of full depth and of
 *   Exact at every draft exit (draft length auto, and 4), with acceptance;
 *   every Exact answer is checked token-identical to full depth.
 * - bench shape: random weights of a realistic small shape (tests/bench/
 *   shapes.ts), reported apart: random exits barely agree with the full
 *   model, so this shows what drafting costs when acceptance is near zero.
 *
 * Each figure is the best of three runs (the machine is shared). Decode
 * tokens/s counts the tokens after the first (the prefill, the same in both
 * modes) over the time after it.
 *
 * Run: npm run bench -- speculative   (one JSON line)
 */
import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { generate, type Depth } from '../../src-main/engine/generate/generate'
import { ModelSession } from '../../src-main/engine/generate/model-session'
import { DynamicDepthRuntime } from '../../src-main/engine/generate/runtime'
import { DynamicSequence } from '../../src-main/engine/generate/sequence'
import type { DraftTokens } from '../../src-main/engine/generate/speculative'
import { benchConfig, benchWeights, randomFiller } from './shapes'

const quick = process.env.BENCH_QUICK === '1'
const root = join(import.meta.dirname, '..', '..')
const modelDir = join(root, 'resources', 'models', 'dictionary-soft')
const dataFile = join(root, 'resources', 'eval', 'dictionary-heldout.jsonl')
const prompts = quick ? 6 : 24
const maxNewTokens = 64
const runs = 3

interface Measured {
  tokensPerS: number
  drafted: number
  accepted: number
  acceptanceRate: number
  identical: boolean
}

type Run = (depth: Depth, draftExit: number, draftTokens: DraftTokens) => Promise<{ tokens: number[][]; decodeMs: number; decoded: number; drafted: number; accepted: number }>

async function measure(runOnce: Run, depth: Depth, draftExit: number, draftTokens: DraftTokens, reference?: number[][]): Promise<Measured & { tokens: number[][] }> {
  let best: Awaited<ReturnType<Run>> | undefined
  for (let r = 0; r < runs; r++) {
    const result = await runOnce(depth, draftExit, draftTokens)
    if (!best || result.decoded / result.decodeMs > best.decoded / best.decodeMs) best = result
  }
  const { tokens, decodeMs, decoded, drafted, accepted } = best!
  return {
    tokens,
    tokensPerS: +((decoded / decodeMs) * 1000).toFixed(1),
    drafted,
    accepted,
    acceptanceRate: drafted ? +(accepted / drafted).toFixed(3) : 0,
    identical: reference ? JSON.stringify(tokens) === JSON.stringify(reference) : true,
  }
}

async function bundled() {
  const session = await ModelSession.open(modelDir)
  const L = session.info.numLayers
  const inputs = readPrompts().slice(0, prompts)
  const runOnce: Run = async (depth, draftExit, draftTokens) => {
    const out = { tokens: [] as number[][], decodeMs: 0, decoded: 0, drafted: 0, accepted: 0 }
    for (const prompt of inputs) {
      const result = await session.generate({ input: { prompt, chat: true }, maxNewTokens, exitAt: () => depth, speculative: { draftExit, draftTokens } })
      out.tokens.push(result.tokens)
      out.decodeMs += result.decodeMs
      out.decoded += result.tokens.length - 1
      out.drafted += result.drafted
      out.accepted += result.accepted
    }
    return out
  }
  const full = await measure(runOnce, L, 1, 'auto')
  const exact: Record<string, Measured> = {}
  for (let e = 1; e < L; e++) {
    for (const k of ['auto', 4] as const) {
      const { tokens: _tokens, ...m } = await measure(runOnce, 'exact', e, k, full.tokens)
      exact[`E${e}/k${k}`] = { ...m, speedup: +(m.tokensPerS / full.tokensPerS).toFixed(2) } as Measured
    }
  }
  await session.release()
  return { model: 'dictionary-soft (bundled, fp32)', layers: L, prompts: inputs.length, maxNewTokens, full_tokens_per_s: full.tokensPerS, exact }
}

function readPrompts(): string[] {
  // Held-out instructions; the chat template formats them as the app does.
  return readFileSync(dataFile, 'utf8')
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => (JSON.parse(line) as { instruction: string }).instruction)
}

async function benchShape() {
  const shape = quick ? { layers: 4, d: 256, heads: 8, kvHeads: 2, ffn: 704, vocab: 4096 } : { layers: 16, d: 1024, heads: 16, kvHeads: 4, ffn: 2816, vocab: 32000 }
  const config = benchConfig(shape)
  const runtime = await DynamicDepthRuntime.load(config, benchWeights(config, randomFiller(12345)), { intraOpThreads: availableParallelism() })
  const L = config.numLayers
  const prompt = Array.from({ length: 64 }, (_, i) => (i * 7919 + 13) % config.vocabSize)
  const runOnce: Run = async (depth, draftExit, draftTokens) => {
    const result = await generate({ sequence: new DynamicSequence(runtime), prompt, maxNewTokens: quick ? 8 : 24, exitAt: () => depth, speculative: { draftExit, draftTokens } })
    return { tokens: [result.tokens], decodeMs: result.decodeMs, decoded: result.tokens.length - 1, drafted: result.drafted, accepted: result.accepted }
  }
  const full = await measure(runOnce, L, 1, 'auto')
  const exact: Record<string, Measured> = {}
  for (const e of [Math.max(1, L / 4), L / 2, (3 * L) / 4]) {
    const { tokens: _tokens, ...m } = await measure(runOnce, 'exact', e, 'auto', full.tokens)
    exact[`E${e}/kauto`] = { ...m, speedup: +(m.tokensPerS / full.tokensPerS).toFixed(2) } as Measured
  }
  await runtime.release()
  return { shape, note: 'random weights: exits barely agree, so this is the cost of drafting at near-zero acceptance', full_tokens_per_s: full.tokensPerS, exact }
}

const result = { bench: 'speculative', bundled: await bundled(), bench_shape: await benchShape() }
console.log(JSON.stringify(result))
