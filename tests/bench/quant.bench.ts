/**
 * Weight-only quantization on CPU: one decode-step matrix–vector product
 * (M = 1) of a 2048 → 8192 Linear (an MLP up projection of a ~1B model), and
 * its 8192 → 2048 transpose (down projection), as fp32 MatMul against
 * MatMulNBits int4 and int8 (block 32, accuracy_level 4 = int8 activations).
 * Decode is memory-bound, so the int4 weight (≈ 1/7 of the fp32 bytes with
 * its scales) should run several times faster. Also: RTN quantization time,
 * relative error against the fp32 product, and peak RSS.
 *
 * Run: npm run bench -- quant   (one JSON line)
 */
import { availableParallelism } from 'node:os'
import { performance } from 'node:perf_hooks'
import { quantizeLinear, type QuantBits } from '../../src-main/engine/model/quant/blockwise'
import { linearNBits } from '../../src-main/engine/model/quant/linear'
import { transposeMatrix } from '../../src-main/engine/model/graphs'
import { Graph } from '../../src-main/engine/onnx/graph'
import { matmul } from '../../src-main/engine/onnx/ops/matmul'
import { toModelProto } from '../../src-main/engine/onnx/serialize'
import { loadSession, tensor } from '../../src-main/engine/onnx/session'
import { randomFiller } from './shapes'

const quick = process.env.BENCH_QUICK === '1'
const repeats = quick ? 20 : 100
const threads = { intraOpThreads: availableParallelism() }
const randomArray = randomFiller(4242)

/** Median milliseconds of `repeats` runs after a warm-up; returns the last output too. */
async function timeGraph(graph: Graph, x: Float32Array, k: number): Promise<{ ms: number; y: Float32Array }> {
  const { session } = await loadSession(toModelProto(graph), threads)
  const feeds = { x: tensor('float32', x, [1, k]) }
  let y: Float32Array = new Float32Array(0)
  for (let i = 0; i < 5; i++) y = (await session.run(feeds)).y!.data as Float32Array
  const times: number[] = []
  for (let i = 0; i < repeats; i++) {
    const t = performance.now()
    await session.run(feeds)
    times.push(performance.now() - t)
  }
  await session.release()
  times.sort((a, b) => a - b)
  return { ms: times[Math.floor(times.length / 2)]!, y }
}

function relativeError(y: Float32Array, reference: Float32Array): number {
  let num = 0
  let den = 0
  for (let i = 0; i < y.length; i++) {
    num += (y[i]! - reference[i]!) ** 2
    den += reference[i]! ** 2
  }
  return Math.sqrt(num / den)
}

async function gemv(k: number, n: number): Promise<Record<string, number>> {
  const weight = randomArray(n * k, 0.02) // HF layout [out, in]
  const x = randomArray(k, 1)

  const fp32 = new Graph('fp32')
  fp32.output(matmul(fp32.input('x', 'float32', [1, k]), fp32.constant(transposeMatrix(weight, n, k), 'float32', [k, n], 'w')), 'y')
  const base = await timeGraph(fp32, x, k)

  const result: Record<string, number> = { fp32_ms: +base.ms.toFixed(3), fp32_weight_mb: +((4 * n * k) / 1e6).toFixed(1) }
  for (const bits of [4, 8] as QuantBits[]) {
    const t = performance.now()
    const q = quantizeLinear(weight, n, k, { bits, blockSize: 32 })
    const quantizeMs = performance.now() - t
    const g = new Graph(`int${bits}`, new Set(['MatMulNBits']))
    g.output(linearNBits(g.input('x', 'float32', [1, k]), 'w', q, { accuracyLevel: 4 }), 'y')
    const r = await timeGraph(g, x, k)
    result[`int${bits}_ms`] = +r.ms.toFixed(3)
    result[`int${bits}_speedup`] = +(base.ms / r.ms).toFixed(2)
    result[`int${bits}_weight_mb`] = +((q.b.byteLength + q.scales.byteLength) / 1e6).toFixed(1)
    result[`int${bits}_rel_error`] = +relativeError(r.y, base.y).toExponential(2)
    result[`int${bits}_quantize_ms`] = +quantizeMs.toFixed(0)
  }
  return result
}

const up = await gemv(2048, 8192)
const down = await gemv(8192, 2048)
console.log(
  JSON.stringify({
    bench: 'quant',
    threads: threads.intraOpThreads,
    repeats,
    block_size: 32,
    accuracy_level: 4,
    gemv_2048x8192: up,
    gemv_8192x2048: down,
    peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
  }),
)
