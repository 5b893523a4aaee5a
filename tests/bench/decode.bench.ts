/**
 * Dynamic-depth decoding on a random model of realistic small shape: prefill
 * and decode speed at every exit, what changing the budget costs, the cost of
 * per-layer graphs against one monolithic graph, and how close decoding gets
 * to the machine's memory bandwidth (decode is memory-bound).
 *
 * The `weights` dimension loads the same model in fp32, int8 and int4 (and
 * the quantized ones with an fp32 LM head, to show what the int8 head does),
 * each in its own process so its memory figures are its own: full- and
 * half-depth decode tokens/s, load time (quantizing included, no cache),
 * resident memory once the caller's fp32 copy is dropped, and peak RSS.
 *
 * Run: npm run bench -- decode   (one JSON line)
 */
import { spawnSync } from 'node:child_process'
import { availableParallelism } from 'node:os'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { DynamicDepthRuntime } from '../../src-main/engine/generate/runtime'
import { DynamicSequence } from '../../src-main/engine/generate/sequence'
import { argmax } from '../../src-main/engine/generate/sampling'
import { buildMonolithicGraph } from '../../src-main/engine/model/graphs'
import { linear } from '../../src-main/engine/model/layers'
import { quantizeLinear } from '../../src-main/engine/model/quant/blockwise'
import { ropeTables } from '../../src-main/engine/model/rope'
import type { ModelConfig, ModelWeights } from '../../src-main/engine/model/types'
import { isQuantized, weightFormat, type WeightFormat } from '../../src-main/engine/model/weight-format'
import { benchConfig, benchWeights, randomFiller } from './shapes'
import { Graph } from '../../src-main/engine/onnx/graph'
import { matmul } from '../../src-main/engine/onnx/ops/matmul'
import { toModelProto } from '../../src-main/engine/onnx/serialize'
import { loadSession, tensor, type ort } from '../../src-main/engine/onnx/session'

const quick = process.env.BENCH_QUICK === '1'
const shape = quick
  ? { layers: 4, d: 256, heads: 8, kvHeads: 2, ffn: 704, vocab: 4096 }
  : { layers: 16, d: 1024, heads: 16, kvHeads: 4, ffn: 2816, vocab: 32000 }
const promptLength = 128
const decodeTokens = quick ? 8 : 24
const threads = { intraOpThreads: availableParallelism() }

const config: ModelConfig = benchConfig(shape)

const randomArray = randomFiller(12345)

const randomWeights = (): ModelWeights => benchWeights(config, randomArray)

const { hiddenSize: d, numHeads: H, numKvHeads: Hkv, headDim: D, intermediateSize: F, vocabSize: V } = config
const layerBytes = 4 * (d * H * D * 2 + d * Hkv * D * 2 + 3 * d * F + 2 * d)
const headBytes = 4 * (V * d + d)
/** Weight bytes a decoded token reads at `exit` (the embedding row is negligible). */
const bytesPerToken = (exit: number) => exit * layerBytes + headBytes

const prompt = Array.from({ length: promptLength }, (_, i) => (i * 7919 + 13) % V)

async function decodeRate(runtime: DynamicDepthRuntime, exit: number): Promise<{ prefillTps: number; decodeTps: number; stepMs: number }> {
  const sequence = new DynamicSequence(runtime)
  const t0 = performance.now()
  let { logits } = await sequence.advance(prompt, exit)
  const prefillMs = performance.now() - t0
  await sequence.advance([argmax(logits)], exit) // first decode step warms this depth
  const t1 = performance.now()
  for (let i = 0; i < decodeTokens; i++) logits = (await sequence.advance([argmax(logits)], exit)).logits
  const stepMs = (performance.now() - t1) / decodeTokens
  return { prefillTps: (promptLength / prefillMs) * 1000, decodeTps: 1000 / stepMs, stepMs }
}

/** Extra time of the first token after a budget change, beyond a normal step at the new exit. */
async function switchCost(runtime: DynamicDepthRuntime, from: number, to: number, normalStepMs: number): Promise<number> {
  const sequence = new DynamicSequence(runtime)
  let { logits } = await sequence.advance(prompt.slice(0, 32), from)
  for (let i = 0; i < 8; i++) logits = (await sequence.advance([argmax(logits)], from)).logits
  const t = performance.now()
  await sequence.advance([argmax(logits)], to)
  return performance.now() - t - normalStepMs
}

async function monolithicStepMs(weights: ModelWeights): Promise<number> {
  const { session } = await loadSession(toModelProto(buildMonolithicGraph(config, weights, config.numLayers)), threads)
  const empty = () => tensor('float32', new Float32Array(0), [1, Hkv, 0, D])
  let past: ort.Tensor[] = Array.from({ length: 2 * config.numLayers }, empty)
  const step = async (ids: number[], start: number) => {
    const { cos, sin } = ropeTables(config, start, ids.length)
    const feeds: Record<string, ort.Tensor> = {
      ids: tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]),
      cos: tensor('float32', cos, [ids.length, D]),
      sin: tensor('float32', sin, [ids.length, D]),
    }
    for (let i = 0; i < config.numLayers; i++) {
      feeds[`past_k_${i}`] = past[2 * i]!
      feeds[`past_v_${i}`] = past[2 * i + 1]!
    }
    const out = await session.run(feeds)
    past = Array.from({ length: config.numLayers }, (_, i) => [out[`present_k_${i}`]!, out[`present_v_${i}`]!]).flat()
    const logits = out.logits!.data as Float32Array
    return argmax(logits.subarray(logits.length - V))
  }
  let token = await step(prompt, 0)
  token = await step([token], promptLength)
  const t = performance.now()
  for (let i = 0; i < decodeTokens; i++) token = await step([token], promptLength + 1 + i)
  const ms = (performance.now() - t) / decodeTokens
  await session.release()
  return ms
}

/** Bytes/s of a matrix–vector product over a weight much larger than the caches. */
async function gemvBandwidth(): Promise<number> {
  const [K, N] = [d, 4 * V]
  const g = new Graph('gemv')
  g.output(matmul(g.input('x', 'float32', [1, K]), g.constant(randomArray(K * N, 0.01), 'float32', [K, N], 'w')), 'y')
  const { session } = await loadSession(toModelProto(g), threads)
  const feeds = { x: tensor('float32', randomArray(K, 1), [1, K]) }
  for (let i = 0; i < 3; i++) await session.run(feeds)
  const repeats = 20
  const t = performance.now()
  for (let i = 0; i < repeats; i++) await session.run(feeds)
  const seconds = (performance.now() - t) / 1000 / repeats
  await session.release()
  return (4 * K * N) / seconds
}

/**
 * Bytes/s of a plain MatMulNBits matrix–vector product in `format`'s
 * precision over the same [K, N] as gemvBandwidth (packed codes and scales
 * read per call): what a quantized model's decoding can at best approach.
 */
async function nbitsGemvBandwidth(format: WeightFormat): Promise<number> {
  const [K, N] = [d, 4 * V]
  const bits = format.precision === 'int4' ? 4 : 8
  const quantized = quantizeLinear(randomArray(K * N, 0.01), N, K, { bits, blockSize: format.blockSize })
  const g = new Graph('gemv-nbits', new Set(['MatMulNBits']))
  g.output(linear(g.input('x', 'float32', [1, K]), { quantized, name: 'w', accuracyLevel: format.accuracyLevel }), 'y')
  const { session } = await loadSession(toModelProto(g), threads)
  const feeds = { x: tensor('float32', randomArray(K, 1), [1, K]) }
  for (let i = 0; i < 3; i++) await session.run(feeds)
  const repeats = 50
  const t = performance.now()
  for (let i = 0; i < repeats; i++) await session.run(feeds)
  const seconds = (performance.now() - t) / 1000 / repeats
  await session.release()
  return packedBytes(N, K, bits, format.blockSize) / seconds
}

/** Bytes of a [rows, cols] weight in MatMulNBits form: the codes and a float32 scale per block. */
const packedBytes = (rows: number, cols: number, bits: number, blockSize: number) => rows * Math.ceil(cols / blockSize) * ((blockSize * bits) / 8 + 4)

/** Weight bytes a decoded token reads at `exit` in `format` (norms are negligible, the embedding row too). */
function formatBytesPerToken(format: WeightFormat, exit: number): number {
  if (!isQuantized(format)) return bytesPerToken(exit)
  const bits = format.precision === 'int4' ? 4 : 8
  const b = format.blockSize
  const layer = 2 * packedBytes(H * D, d, bits, b) + 2 * packedBytes(Hkv * D, d, bits, b) + 2 * packedBytes(F, d, bits, b) + packedBytes(d, F, bits, b)
  const head = format.lmHead === 'int8' ? packedBytes(V, d, 8, b) : headBytes
  return exit * layer + head
}

/** The variants of the weights dimension: precision, and the LM head's precision. */
const VARIANTS: Record<string, WeightFormat> = {
  fp32: weightFormat({ precision: 'fp32' }),
  int8: weightFormat({ precision: 'int8' }),
  int4: weightFormat({ precision: 'int4' }),
  int8_fp32_head: weightFormat({ precision: 'int8', lmHead: 'fp32' }),
  int4_fp32_head: weightFormat({ precision: 'int4', lmHead: 'fp32' }),
}

interface VariantResult {
  load_s: number
  /** Half-depth over full-depth tokens/s, and the ratio of the weight bytes a token reads at each (its ideal). */
  speedup_half: number
  ideal_half: number
  /** A plain GEMV's bandwidth in this precision, and the share of it full-depth decoding reaches. */
  gemv_bandwidth_gb_s: number
  bandwidth_fraction: number
  decode_tokens_per_s_full: number
  decode_tokens_per_s_half: number
  prefill_tokens_per_s_full: number
  rss_mb: number
  peak_rss_mb: number
}

/** One variant, in this process (a child of the main run): prints one JSON line. */
async function runVariant(name: string): Promise<void> {
  const format = VARIANTS[name]
  if (!format) throw new Error(`unknown weights variant ${name}`)
  const t0 = performance.now()
  // The runtime holds its own copy (inside ONNX Runtime); the fp32 weights made here are dropped on return, as the app drops its copy.
  const runtime = await DynamicDepthRuntime.load(config, randomWeights(), { ...threads, weights: format })
  const loadS = (performance.now() - t0) / 1000
  ;(globalThis as { gc?: () => void }).gc?.()
  // Best of three: on a shared machine the slowest trials measure the neighbours, not the model.
  const best = async (exit: number) => {
    const trials = [await decodeRate(runtime, exit), await decodeRate(runtime, exit), await decodeRate(runtime, exit)]
    return trials.reduce((a, b) => (b.decodeTps > a.decodeTps ? b : a))
  }
  const full = await best(config.numLayers)
  const half = await best(config.numLayers / 2)
  const rssMb = process.memoryUsage().rss / 2 ** 20
  await runtime.release()
  const bandwidth = isQuantized(format) ? await nbitsGemvBandwidth(format) : await gemvBandwidth()
  const L = config.numLayers
  const result: VariantResult = {
    load_s: +loadS.toFixed(2),
    speedup_half: +(half.decodeTps / full.decodeTps).toFixed(3),
    ideal_half: +(formatBytesPerToken(format, L) / formatBytesPerToken(format, L / 2)).toFixed(3),
    gemv_bandwidth_gb_s: +(bandwidth / 1e9).toFixed(2),
    bandwidth_fraction: +((formatBytesPerToken(format, L) * full.decodeTps) / bandwidth).toFixed(3),
    decode_tokens_per_s_full: +full.decodeTps.toFixed(2),
    decode_tokens_per_s_half: +half.decodeTps.toFixed(2),
    prefill_tokens_per_s_full: +full.prefillTps.toFixed(1),
    rss_mb: Math.round(rssMb),
    peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
  }
  console.log(JSON.stringify(result))
}

/** Every variant, each in its own process, one after another. */
function weightsDimension(): Record<string, VariantResult> {
  const self = fileURLToPath(import.meta.url)
  const results: Record<string, VariantResult> = {}
  for (const name of Object.keys(VARIANTS)) {
    const child = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', self, name], { encoding: 'utf8', env: process.env })
    if (child.status !== 0) throw new Error(`weights ${name} failed:\n${child.stderr}`)
    results[name] = JSON.parse(child.stdout.trim().split('\n').at(-1)!)
  }
  return results
}

const variant = process.argv[2]
if (variant) {
  await runVariant(variant)
  process.exit(0)
}
// First, while this process is small: Linux carries a parent's peak RSS into the children it spawns.
const byWeights = weightsDimension()

const weights = randomWeights()
const monolithicMs = await monolithicStepMs(weights)
const runtime = await DynamicDepthRuntime.load(config, weights, threads)
const perExit: Record<string, { prefill_tokens_per_s: number; decode_tokens_per_s: number }> = {}
const steps: number[] = []
for (let exit = 1; exit <= config.numLayers; exit++) {
  const r = await decodeRate(runtime, exit)
  steps[exit] = r.stepMs
  perExit[exit] = { prefill_tokens_per_s: +r.prefillTps.toFixed(1), decode_tokens_per_s: +r.decodeTps.toFixed(2) }
}
const L = config.numLayers
const half = L / 2
/** Median of several trials: one token's time on this shared machine is noisy. */
async function medianSwitch(from: number, to: number): Promise<number> {
  const trials: number[] = []
  for (let i = 0; i < 5; i++) trials.push(await switchCost(runtime, from, to, steps[to]!))
  return trials.sort((a, b) => a - b)[2]!
}
const switchDownMs = await medianSwitch(L, half)
const switchUpMs = await medianSwitch(half, L)
const bandwidth = await gemvBandwidth()
await runtime.release()
const ratio = (a: number, b: number) => +(a / b).toFixed(3)
const fp32 = byWeights.fp32!

const decodeFull = perExit[L]!.decode_tokens_per_s
console.log(
  JSON.stringify({
    bench: 'decode',
    shape: { ...shape, headDim: D, weight_mb: +((L * layerBytes + headBytes + 4 * V * d) / 1e6).toFixed(0) },
    prompt_tokens: promptLength,
    per_exit: perExit,
    speedup_half: +(perExit[half]!.decode_tokens_per_s / decodeFull).toFixed(3),
    ideal_half: +(bytesPerToken(L) / bytesPerToken(half)).toFixed(3),
    switch_ms_lowering: +switchDownMs.toFixed(2),
    switch_ms_raising: +switchUpMs.toFixed(2),
    split_overhead: +(steps[L]! / monolithicMs).toFixed(3),
    gemv_bandwidth_gb_s: +(bandwidth / 1e9).toFixed(2),
    bandwidth_fraction: +((bytesPerToken(L) * decodeFull) / bandwidth).toFixed(3),
    weights: byWeights,
    weights_vs_fp32: Object.fromEntries(
      Object.entries(byWeights)
        .filter(([name]) => name !== 'fp32')
        .map(([name, r]) => [
          name,
          {
            decode_full: ratio(r.decode_tokens_per_s_full, fp32.decode_tokens_per_s_full),
            decode_half: ratio(r.decode_tokens_per_s_half, fp32.decode_tokens_per_s_half),
            rss: ratio(r.rss_mb, fp32.rss_mb),
            peak_rss: ratio(r.peak_rss_mb, fp32.peak_rss_mb),
          },
        ]),
    ),
  }),
)
