/**
 * Throughput of a compiled training step (forward + backward + AdamW in one
 * session.run) of one LLaMA decoder block, next to ONNX Runtime's plain
 * MatMul on this machine, measured in the same run. FLOPs count the matrix
 * products only (norms, softmax and the optimizer are a few % more work), so
 * the ratio is the share of plain-MatMul speed the whole step achieves.
 *
 * Run: npm run bench -- graph
 */
import { availableParallelism } from 'node:os'
import { performance } from 'node:perf_hooks'
import { transformerBlock, ropeTables } from '../../src-main/engine/model/layers'
import { mul, reduceMean } from '../../src-main/engine/onnx/ops/basic'
import { matmul } from '../../src-main/engine/onnx/ops/matmul'
import { Graph } from '../../src-main/engine/onnx/graph'
import { buildTrainStep, type TensorSpec } from '../../src-main/engine/onnx/optimizer'
import { toModelProto } from '../../src-main/engine/onnx/serialize'
import { loadSession, tensor, type ort } from '../../src-main/engine/onnx/session'

const config = { batch: 8, seq: 256, d: 512, heads: 8, kvHeads: 8, headDim: 64, ffn: 1408 }
const { batch: B, seq: T, d, heads: H, kvHeads: Hkv, headDim: D, ffn: F } = config
const N = B * T

function rand(n: number, scale: number, seed: number): Float32Array {
  let s = seed
  return Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648
    return (s / 2147483648 - 0.5) * 2 * scale
  })
}

async function medianSeconds(run: () => Promise<unknown>, warmup: number, repeats: number): Promise<number> {
  for (let i = 0; i < warmup; i++) await run()
  const times: number[] = []
  for (let i = 0; i < repeats; i++) {
    const start = performance.now()
    await run()
    times.push((performance.now() - start) / 1000)
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!
}

/** Both sessions get every core explicitly, so neither depends on ORT's default. */
const threads = { intraOpThreads: availableParallelism() }

/** The block's largest product (an MLP projection over all B·T rows), alone in a session. */
async function plainMatmulGflops(): Promise<number> {
  const [M, K, Nn] = [N, d, F]
  const g = new Graph('matmul')
  g.output(matmul(g.input('a', 'float32', [M, K]), g.input('b', 'float32', [K, Nn])), 'y')
  const { session } = await loadSession(toModelProto(g), threads)
  const feeds = { a: tensor('float32', rand(M * K, 1, 1), [M, K]), b: tensor('float32', rand(K * Nn, 1, 2), [K, Nn]) }
  const seconds = await medianSeconds(() => session.run(feeds), 5, 15)
  await session.release()
  return (2 * M * K * Nn) / seconds / 1e9
}

function blockForwardFlops(): number {
  const projections = 2 * N * d * (H * D) * 2 + 2 * N * d * (Hkv * D) * 2 // q, o; k, v
  const mlp = 3 * 2 * N * d * F
  const attention = 2 * 2 * B * H * T * T * D // q·kᵀ and p·v
  return projections + mlp + attention
}

async function trainStepGflops(): Promise<{ gflops: number; seconds: number }> {
  const params: TensorSpec[] = [
    { name: 'attnNorm', dtype: 'float32', shape: [d] },
    { name: 'q', dtype: 'float32', shape: [d, H * D] },
    { name: 'k', dtype: 'float32', shape: [d, Hkv * D] },
    { name: 'v', dtype: 'float32', shape: [d, Hkv * D] },
    { name: 'o', dtype: 'float32', shape: [H * D, d] },
    { name: 'mlpNorm', dtype: 'float32', shape: [d] },
    { name: 'gate', dtype: 'float32', shape: [d, F] },
    { name: 'up', dtype: 'float32', shape: [d, F] },
    { name: 'down', dtype: 'float32', shape: [F, d] },
  ]
  const tables = ropeTables(T, D)
  const step = buildTrainStep({
    mode: 'step',
    params,
    batchInputs: [{ name: 'x', dtype: 'float32', shape: [B, T, d] }],
    optimizer: { maxGradNorm: 1 },
    build: (p, batch) => {
      const g = batch.x!.graph
      const cos = g.constant(Float32Array.from(tables.cos), 'float32', [T, D])
      const sin = g.constant(Float32Array.from(tables.sin), 'float32', [T, D])
      const y = transformerBlock(batch.x!, p as never, { heads: H, kvHeads: Hkv, headDim: D, rmsNormEps: 1e-5 }, cos, sin)
      const loss = reduceMean(mul(y, y), [0, 1, 2])
      return { losses: { mse: loss }, objective: loss }
    },
  })
  const { session } = await loadSession(toModelProto(step.graph), threads)
  const feeds: Record<string, ort.Tensor> = { x: tensor('float32', rand(B * T * d, 1, 3), [B, T, d]) }
  params.forEach((spec, i) => {
    const shape = spec.shape as number[]
    const size = shape.reduce((a, b) => a * b, 1)
    const init = spec.name.endsWith('Norm') ? new Float32Array(size).fill(1) : rand(size, 0.02, 10 + i)
    feeds[spec.name] = tensor('float32', init, shape)
    feeds[`m.${spec.name}`] = tensor('float32', new Float32Array(size), shape)
    feeds[`v.${spec.name}`] = tensor('float32', new Float32Array(size), shape)
  })
  feeds.lr = tensor('float32', Float32Array.of(1e-4), [])
  feeds.step = tensor('float32', Float32Array.of(1), [])
  const seconds = await medianSeconds(() => session.run(feeds), 2, 5)
  await session.release()
  return { gflops: (3 * blockForwardFlops()) / seconds / 1e9, seconds }
}

// Interleaved and best-of-two, so a burst of load from elsewhere on this
// shared machine hurts neither figure alone.
const matmulRuns = [await plainMatmulGflops()]
const trainRuns = [await trainStepGflops()]
matmulRuns.push(await plainMatmulGflops())
trainRuns.push(await trainStepGflops())
const matmulGflops = Math.max(...matmulRuns)
const train = trainRuns.reduce((best, run) => (run.gflops > best.gflops ? run : best))
console.log(
  JSON.stringify({
    bench: 'graph_train_step',
    config,
    train_step_seconds: +train.seconds.toFixed(3),
    train_step_gflops: +train.gflops.toFixed(1),
    plain_matmul_gflops: +matmulGflops.toFixed(1),
    ratio: +(train.gflops / matmulGflops).toFixed(3),
  }),
)
