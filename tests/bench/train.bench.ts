/**
 * Training throughput of soft, sortednet and sft on the same model and batch,
 * and of soft and sft with a LoRA adapter (rank 16, alpha 32, every decoder
 * linear layer; the base frozen) and with QLoRA (the same adapter on a base
 * whose decoder Linears are 4-bit, block 32, quantized layer by layer as they
 * are made, so the fp32 model is never whole in memory, as `sorted tune
 * --adapter qlora` loads a folder), each in its own process so peak RSS is
 * its own. Prints one JSON line.
 *
 * BENCH_SHAPE=qwen2.5-0.5b instead runs SoFT + LoRA alone on the
 * Qwen2.5-0.5B shape (24 layers, d 896, 14/2 heads, ffn 4864, vocab 151936,
 * tied head; exits every 6; batch 1 × 512), and BENCH_SHAPE=llama3.2-1b
 * SoFT + QLoRA on Llama-3.2-1B's shape (16 layers, d 2048, 32/8 heads, ffn
 * 8192, vocab 128256, tied; exits every 4; batch 1 × 512), for their peak
 * RSS. BENCH_VARIANTS=soft,soft-lora runs only the variants named, on any
 * shape (BENCH_SHAPE=qwen2.5-0.5b BENCH_VARIANTS=soft: full SoFT on the Qwen
 * shape). Every child runs under a watchdog that kills it when its RSS passes
 * 12 GiB (a variant that trains every weight) or 8 GiB (an adapter).
 *
 * FLOPs count matrix products: the body 3× its forward (forward, and the two
 * backward products), the fused LM head + cross-entropy 4× (its backward
 * recomputes the logits), attention's q·kᵀ and p·v as body work.
 *
 * PyTorch reference: where some `python3` imports torch (BENCH_PYTHON, then
 * python3, then /usr/bin/python3, Debian's python3-torch), the default shape
 * also runs tests/bench/train_reference.py, the same SFT step in plain PyTorch
 * (same layers, loss, AdamW, thread count), right after our sft variant, and
 * the JSON line gets `pytorch_tokens_per_s` and `ours_over_pytorch` (our sft
 * tokens/s over its, measured in the same run: the machine is shared and
 * noisy). PyTorch's speed depends on its BLAS: Debian's links the reference
 * BLAS unless an optimised one (libopenblas0-pthread) is installed.
 * BENCH_LAYERS=4 runs both sides on a 4-layer stack of the same shape.
 *
 * Run: npm run bench -- train      (BENCH_QUICK=1 for a small shape)
 */
import { spawn, spawnSync } from 'node:child_process'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Graph } from '../../src-main/engine/onnx/graph'
import { matmul } from '../../src-main/engine/onnx/ops/matmul'
import { toModelProto } from '../../src-main/engine/onnx/serialize'
import { loadSession, tensor } from '../../src-main/engine/onnx/session'
import { quantizeLinear } from '../../src-main/engine/model/quant/blockwise'
import type { LayerWeights, ModelConfig, ModelWeights } from '../../src-main/engine/model/types'
import { benchConfig, benchWeights, randomFiller } from './shapes'
import { parseExits } from '../../src-main/engine/train/exits'
import { planStep } from '../../src-main/engine/train/run-plan'
import { glibcMallocTuning } from '../../scripts/malloc-tuning.mjs'
import type { TrainedAdapter } from '../../src-main/engine/train/sorted-graph'
import { Trainer, type TrainMode } from '../../src-main/engine/train/trainer'

const quick = process.env.BENCH_QUICK === '1'
const qwen = process.env.BENCH_SHAPE === 'qwen2.5-0.5b'
const llama1b = process.env.BENCH_SHAPE === 'llama3.2-1b'
/** A one-variant run on a real model's shape, under the watchdog. */
const large = qwen || llama1b
const shape = qwen
  ? { layers: 24, d: 896, heads: 14, kvHeads: 2, ffn: 4864, vocab: 151936, batch: 1, seq: 512, exits: 'every:6:from:6' }
  : llama1b
    ? { layers: 16, d: 2048, heads: 32, kvHeads: 8, ffn: 8192, vocab: 128256, batch: 1, seq: 512, exits: 'every:4:from:4' }
    : quick
    ? { layers: 4, d: 256, heads: 4, kvHeads: 2, ffn: 704, vocab: 4096, batch: 2, seq: 64, exits: 'every:2:from:2' }
    : { layers: Number(process.env.BENCH_LAYERS ?? 16), d: 1024, heads: 16, kvHeads: 4, ffn: 2816, vocab: 32000, batch: 4, seq: 256, exits: 'every:4:from:4' }
// Step 1 is warm-up and not timed: the large shapes time one step (minutes on a shared CPU).
const steps = large ? 1 : 2
const threads = availableParallelism()
/** The watchdog's limit for a child: full fine-tuning holds every weight's moments and gradient, an adapter run only the adapter's (BENCH_RSS_LIMIT_GB sets it, at most 16). */
const rssLimitBytes = (variant: Variant) => Math.min(16, Number(process.env.BENCH_RSS_LIMIT_GB ?? (adapterOf(variant) ? 8 : 12))) * 1024 ** 3

/** The adapter of the `-lora` variants: PEFT's usual LLaMA recipe. */
const lora = { kind: 'lora' as const, rank: 16, alpha: 32, targets: ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] as ('q' | 'k' | 'v' | 'o' | 'gate' | 'up' | 'down')[], trainNorm: false }
/** The `-qlora` variants: the same adapter on a 4-bit base, block 32. */
const qlora = { ...lora, quantizedBase: { bits: 4 as const, blockSize: 32 as const } }
type Variant = TrainMode | 'soft-lora' | 'sft-lora' | 'soft-qlora' | 'sft-qlora'
const adapterOf = (variant: Variant): TrainedAdapter | undefined => (variant.endsWith('-qlora') ? qlora : variant.endsWith('-lora') ? lora : undefined)

const config: ModelConfig = { ...benchConfig(shape), tieWordEmbeddings: large }
const exits = parseExits(shape.exits, shape.layers)
const { d, heads: H, kvHeads: Hkv, ffn: F, vocab: V, batch: B, seq: T } = shape
const D = d / H
const tokens = B * T
const layerForward = 2 * tokens * (d * H * D * 2 + d * Hkv * D * 2 + 3 * d * F) + 2 * 2 * B * H * T * T * D
const headForward = 2 * (tokens - B) * V * d
const flops = (mode: TrainMode, sampledExit = exits[0]!) =>
  mode === 'soft'
    ? 3 * shape.layers * layerForward + 4 * exits.length * headForward
    : mode === 'sft'
      ? 3 * shape.layers * layerForward + 4 * headForward
      : 3 * (shape.layers + sampledExit) * layerForward + 4 * 2 * headForward

const randomArray = randomFiller(99)
/**
 * The children train as the app does: with glibc's allocator tuned as `npm start` starts it
 * (scripts/malloc-tuning.mjs); BENCH_MALLOC=default measures glibc's defaults instead.
 */
const childEnv = { ...process.env, ...(process.env.BENCH_MALLOC === 'default' ? {} : glibcMallocTuning()) }
/** BENCH_ARENA=on|off: ONNX Runtime's memory arena for the training graphs (default: the trainer's, off). */
const arena = process.env.BENCH_ARENA === undefined ? undefined : process.env.BENCH_ARENA === 'on'
/** BENCH_RECOMPUTE=on: every variant recomputes each layer's activations in its backward (`--recompute on`). */
const recompute = process.env.BENCH_RECOMPUTE === 'on'

const weights = (): ModelWeights => {
  const w = benchWeights(config, randomArray)
  return config.tieWordEmbeddings ? { ...w, lmHead: undefined } : w
}

/** The bench model with every decoder Linear quantized to 4 bits as soon as it is made (no fp32 copy kept). */
function quantizedWeights(): ModelWeights {
  const { hiddenSize: d, numHeads: H, numKvHeads: Hkv, headDim: D, intermediateSize: F, vocabSize: V } = config
  const q = (rows: number, cols: number) => quantizeLinear(randomArray(rows * cols, 1 / Math.sqrt(cols)), rows, cols, { bits: 4, blockSize: 32 })
  const empty = new Float32Array(0)
  const layers: LayerWeights[] = Array.from({ length: config.numLayers }, () => ({
    attnNorm: new Float32Array(d).fill(1),
    mlpNorm: new Float32Array(d).fill(1),
    ...{ q: empty, k: empty, v: empty, o: empty, gate: empty, up: empty, down: empty },
    prequantized: { q: q(H * D, d), k: q(Hkv * D, d), v: q(Hkv * D, d), o: q(d, H * D), gate: q(F, d), up: q(F, d), down: q(d, F) },
  }))
  const embed = randomArray(V * d, 1 / Math.sqrt(d))
  return { embed, layers, norm: new Float32Array(d).fill(1), lmHead: config.tieWordEmbeddings ? undefined : randomArray(V * d, 1 / Math.sqrt(d)) }
}

async function runMode(variant: Variant): Promise<void> {
  const mode = variant.replace(/-q?lora$/, '') as TrainMode
  const adapter = adapterOf(variant)
  const ids = BigInt64Array.from({ length: tokens }, (_, i) => BigInt((i * 7919) % V))
  const source = { batchesPerEpoch: 1, batch: () => ({ inputIds: ids, labels: ids }) }
  const dir = mkdtempSync(join(tmpdir(), 'bench-train-'))
  const options = {
    mode, exits, batchSize: B, seqLen: T, gradAccum: 1, totalSteps: steps + 1, lr: 1e-5, weightDecay: 0.01, warmupSteps: 0,
    schedule: 'constant' as const, maxGradNorm: 1, seed: 1, evalEvery: 0, checkpointEvery: 0, adapter, recompute,
  }
  const times: number[] = []
  const sampled: number[] = []
  let last = performance.now()
  const maxRssMb = () => Math.round(process.resourceUsage().maxRSS / 1024)
  const model = adapter?.quantizedBase ? quantizedWeights() : weights()
  // Where the peak is reached: making the weights, compiling the graphs, or training.
  const peakAfter: Record<string, number> = { weights: maxRssMb() }
  const trainer = new Trainer(config, model, options, source, undefined, dir, {
    intraOpThreads: threads,
    ...(arena === undefined ? {} : { memoryArena: arena }),
    onStep: ({ record }) => {
      const now = performance.now()
      if (record.step > 1) times.push((now - last) / 1000) // step 1 includes warm-up
      last = now
      sampled.push(Math.min(...Object.keys(record.loss).map(Number)))
    },
  })
  // Time steps only: compile first (run() would compile inside the first step's timing otherwise).
  await trainer.evaluate({ batchesPerEpoch: 0, batch: source.batch })
  peakAfter.compile = maxRssMb()
  last = performance.now()
  await trainer.run()
  await trainer.release()
  rmSync(dir, { recursive: true, force: true })
  const seconds = times.reduce((a, b) => a + b, 0) / times.length
  const stepFlops = mode === 'sortednet' ? sampled.slice(1).reduce((s, e) => s + flops(mode, e), 0) / (sampled.length - 1) : flops(mode)
  const predicted = planStep(config, { mode, exits, batchSize: B, seqLen: T, adapter, recompute }).memory.peakBytes / 1024 ** 2
  console.log(JSON.stringify({ mode: variant, recompute, arena: arena ?? false, malloc_mmap_threshold: process.env.MALLOC_MMAP_THRESHOLD_ ?? 'glibc default', predicted_peak_mb: Math.round(predicted), peak_rss_mb_after: peakAfter, step_seconds: seconds, tokens_per_s: tokens / seconds, gflops: stepFlops / seconds / 1e9, peak_rss_mb: process.resourceUsage().maxRSS / 1024 }))
}

async function plainMatmulGflops(): Promise<number> {
  const g = new Graph('matmul')
  g.output(matmul(g.input('a', 'float32', [tokens, d]), g.input('b', 'float32', [d, F])), 'y')
  const { session } = await loadSession(toModelProto(g), { intraOpThreads: threads })
  const feeds = { a: tensor('float32', randomArray(tokens * d, 1), [tokens, d]), b: tensor('float32', randomArray(d * F, 1), [d, F]) }
  for (let i = 0; i < 5; i++) await session.run(feeds)
  const t = performance.now()
  for (let i = 0; i < 15; i++) await session.run(feeds)
  return (2 * tokens * d * F * 15) / ((performance.now() - t) / 1000) / 1e9
}

/** The child's resident memory, from /proc (Linux); 0 where it cannot be read. */
function rssBytes(pid: number): number {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))
    return line ? Number(line.split(/\s+/)[1]) * 1024 : 0
  } catch {
    return 0
  }
}

/** A Python that imports torch, or undefined when none does. */
function torchPython(): string | undefined {
  const candidates = [process.env.BENCH_PYTHON, 'python3', '/usr/bin/python3'].filter((c): c is string => !!c)
  return candidates.find((python) => spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0)
}

/** The same SFT step in plain PyTorch (tests/bench/train_reference.py), under the watchdog: its tokens/s, or why it did not run. */
async function pytorchReference(): Promise<{ tokens_per_s: number; step_seconds: number; torch: string } | { skipped: string }> {
  const python = torchPython()
  if (!python) return { skipped: 'no python3 imports torch' }
  const script = fileURLToPath(new URL('./train_reference.py', import.meta.url))
  const spec = { layers: shape.layers, d, heads: H, kvHeads: Hkv, ffn: F, vocab: V, batch: B, seq: T, threads, steps }
  const limit = rssLimitBytes('sft')
  const run = await watchedProcess(python, [script, JSON.stringify(spec)], limit)
  if (run.killed) return { skipped: `train_reference.py passed ${limit / 1024 ** 3} GiB of RSS` }
  if (run.code !== 0) return { skipped: `train_reference.py failed: ${run.stderr.trim().split('\n').at(-1)}` }
  return JSON.parse(run.stdout.trim().split('\n').at(-1)!)
}

interface WatchedProcess {
  code: number | null
  /** Killed for passing the RSS limit. */
  killed: boolean
  stdout: string
  stderr: string
  peakBytes: number
}

/** Runs a command in a child, killing it if its RSS passes `limitBytes` (the machine is shared). */
function watchedProcess(command: string, args: string[], limitBytes: number): Promise<WatchedProcess> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env: childEnv })
    let stdout = ''
    let stderr = ''
    let peak = 0
    let killed = false
    child.stdout.on('data', (c) => (stdout += String(c)))
    child.stderr.on('data', (c) => (stderr += String(c)))
    const watch = setInterval(() => {
      peak = Math.max(peak, rssBytes(child.pid!))
      if (peak > limitBytes && !killed) {
        killed = true
        child.kill('SIGKILL')
      }
    }, 100)
    child.on('exit', (code) => {
      clearInterval(watch)
      resolve({ code, killed, stdout, stderr, peakBytes: peak })
    })
  })
}

/** Runs one variant in a child, killing it if its RSS passes its limit; its JSON line, or why it stopped. */
async function watchedChild(self: string, variant: Variant): Promise<Record<string, unknown>> {
  const limit = rssLimitBytes(variant)
  const run = await watchedProcess(process.execPath, ['--import', 'tsx', self, variant], limit)
  const watched_peak_rss_mb = Math.round(run.peakBytes / 1024 ** 2)
  if (run.killed) return { mode: variant, killed: `RSS passed ${limit / 1024 ** 3} GiB`, watched_peak_rss_mb }
  if (run.code !== 0) return { mode: variant, failed: run.stderr.trim().split('\n').slice(-3).join(' | '), watched_peak_rss_mb }
  return { ...JSON.parse(run.stdout.trim().split('\n').at(-1)!), watched_peak_rss_mb }
}

const variant = process.argv[2] as Variant | undefined
if (variant) await runMode(variant)
else if (large) {
  const chosen = (process.env.BENCH_VARIANTS?.split(',') ?? [qwen ? 'soft-lora' : 'soft-qlora']) as Variant[]
  for (const one of chosen) {
    const result = await watchedChild(fileURLToPath(import.meta.url), one)
    console.log(JSON.stringify({ bench: 'train', shape: { ...shape, exits, tied: true, adapter: adapterOf(one) ?? 'none (every weight trains)' }, ...result }))
  }
} else {
  const self = fileURLToPath(import.meta.url)
  const results: Record<string, { step_seconds: number; tokens_per_s: number; gflops: number; peak_rss_mb: number }> = {}
  let pytorch: Awaited<ReturnType<typeof pytorchReference>> | undefined
  const all: Variant[] = ['sft', 'soft', 'sortednet', 'sft-lora', 'soft-lora', 'sft-qlora', 'soft-qlora']
  const chosen = process.env.BENCH_VARIANTS ? (process.env.BENCH_VARIANTS.split(',') as Variant[]) : all
  for (const m of all.filter((v) => chosen.includes(v))) {
    const result = await watchedChild(self, m)
    if (result.killed || result.failed) throw new Error(`${m}: ${String(result.killed ?? result.failed)} (peak ${String(result.watched_peak_rss_mb)} MiB)`)
    results[m] = result as (typeof results)[string]
    // Right after ours, so both see the same load on the shared machine.
    if (m === 'sft' && !quick) pytorch = await pytorchReference()
  }
  const matmulGflops = await plainMatmulGflops()
  const round = (x: number, n = 2) => +x.toFixed(n)
  const ratio = (a: string, b: string, key: 'tokens_per_s' | 'step_seconds') => (results[a] && results[b] ? round(results[a][key] / results[b][key], 3) : null)
  console.log(
    JSON.stringify({
      bench: 'train',
      shape: { ...shape, exits },
      tokens_per_s: Object.fromEntries(Object.entries(results).map(([m, r]) => [m, round(r.tokens_per_s, 1)])),
      step_seconds: Object.fromEntries(Object.entries(results).map(([m, r]) => [m, round(r.step_seconds, 3)])),
      soft_over_sft: ratio('soft', 'sft', 'step_seconds'),
      ...(pytorch && 'tokens_per_s' in pytorch
        ? { pytorch_tokens_per_s: round(pytorch.tokens_per_s, 1), ours_over_pytorch: round(results.sft!.tokens_per_s / pytorch.tokens_per_s, 3), pytorch_version: pytorch.torch }
        : pytorch
          ? { pytorch_skipped: pytorch.skipped }
          : {}),
      // LoRA's speed-up over full fine-tuning, same mode and batch (tokens/s ratio).
      lora_speedup: { soft: ratio('soft-lora', 'soft', 'tokens_per_s'), sft: ratio('sft-lora', 'sft', 'tokens_per_s') },
      // QLoRA's throughput relative to LoRA's (its forward dequantizes in the kernel, its backward in the graph).
      qlora_over_lora: { soft: ratio('soft-qlora', 'soft-lora', 'tokens_per_s'), sft: ratio('sft-qlora', 'sft-lora', 'tokens_per_s') },
      flop_ratio: round(flops('soft') / flops('sft'), 3),
      gflops: Object.fromEntries(Object.entries(results).map(([m, r]) => [m, round(r.gflops, 1)])),
      plain_matmul_gflops: round(matmulGflops, 1),
      soft_fraction_of_matmul: results.soft ? round(results.soft.gflops / matmulGflops, 3) : null,
      peak_rss_mb: Object.fromEntries(Object.entries(results).map(([m, r]) => [m, Math.round(r.peak_rss_mb)])),
      logits_mb_per_exit: round((4 * (tokens - B) * V) / 1e6, 1),
    }),
  )
}
