/**
 * Where a training step's time goes: runs the SFT gradients graph of the
 * train bench's shape (PROFILE_LAYERS layers, default 4; batch 4 × 256) under
 * ONNX Runtime's profiler, with the same session options as Trainer.compile,
 * and prints the kernel time of the last run aggregated by op type and by the
 * heaviest nodes, as one JSON line (plus a readable table on stderr).
 *
 * PROFILE_ARENA=1 turns the CPU memory arena on (the trainer turns it off),
 * to see what the arena is worth.
 *
 * Run: node --import tsx tests/bench/train-profile.ts
 */
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import * as ort from 'onnxruntime-node'
import { toModelProto } from '../../src-main/engine/onnx/serialize'
import { tensor } from '../../src-main/engine/onnx/session'
import { buildSortedTrainGraph, trainedTensors } from '../../src-main/engine/train/sorted-graph'
import { graphNames } from '../../src-main/engine/train/graph-names'
import { benchConfig, benchWeights, randomFiller } from './shapes'
import { weightOf, weightSlots } from '../../src-main/engine/model/weight-map'

const layers = Number(process.env.PROFILE_LAYERS ?? 4)
const shape = { layers, d: 1024, heads: 16, kvHeads: 4, ffn: 2816, vocab: 32000 }
const [B, T] = [4, 256]
const config = benchConfig(shape)
const weights = benchWeights(config, randomFiller(99))
const built = buildSortedTrainGraph({ config, exits: [layers], batchSize: B, seqLen: T, mode: 'gradients' })
const dir = mkdtempSync(join(tmpdir(), 'train-profile-'))
const session = await ort.InferenceSession.create(toModelProto(built.graph), {
  graphOptimizationLevel: 'all',
  logSeverityLevel: 3,
  intraOpNumThreads: Number(process.env.PROFILE_THREADS ?? availableParallelism()),
  enableCpuMemArena: process.env.PROFILE_ARENA === '1',
  enableProfiling: true,
  profileFilePrefix: join(dir, 'step'),
  extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
})
const ids = BigInt64Array.from({ length: B * T }, (_, i) => BigInt((i * 7919) % shape.vocab))
const feeds: Record<string, ort.Tensor> = { [graphNames.inputIds]: tensor('int64', ids, [B, T]), [graphNames.labels]: tensor('int64', ids, [B, T]) }
const slots = new Map(weightSlots(config).map((s) => [s.name, s]))
for (const t of trainedTensors(config)) feeds[graphNames.param(t.name)] = tensor('float32', weightOf(weights, slots.get(t.name)!)!, t.shape)
const runs = Number(process.env.PROFILE_RUNS ?? 2)
const wall: number[] = []
for (let i = 0; i < runs; i++) {
  const started = performance.now()
  await session.run(feeds)
  wall.push((performance.now() - started) / 1000)
}
session.endProfiling()
await session.release()
// The Node binding returns no file name: the profile is the one file written under the prefix.
const file = join(dir, readdirSync(dir).find((f) => f.startsWith('step'))!)

interface ProfileEvent {
  cat: string
  name: string
  dur: number
  ts: number
  args?: { op_name?: string }
}
const events = JSON.parse(readFileSync(file, 'utf8')) as ProfileEvent[]
rmSync(dir, { recursive: true, force: true })
// Only the last run: earlier ones include first-run allocations.
const runStarts = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').map((e) => e.ts)
const lastStart = runStarts.at(-1) ?? 0
const kernels = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time') && e.ts >= lastStart)
const total = kernels.reduce((s, e) => s + e.dur, 0)
const byType = new Map<string, { us: number; count: number }>()
const byNode = new Map<string, number>()
for (const e of kernels) {
  const type = e.args?.op_name ?? '?'
  const entry = byType.get(type) ?? { us: 0, count: 0 }
  entry.us += e.dur
  entry.count++
  byType.set(type, entry)
  const node = e.name.replace(/_kernel_time$/, '')
  byNode.set(node, (byNode.get(node) ?? 0) + e.dur)
}
const round = (x: number) => +x.toFixed(3)
const types = [...byType].sort((a, b) => b[1].us - a[1].us).map(([type, { us, count }]) => ({ type, seconds: round(us / 1e6), share: round(us / total), count }))
const nodes = [...byNode].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.PROFILE_TOP ?? 25)).map(([node, us]) => ({ node, seconds: round(us / 1e6) }))
for (const t of types) process.stderr.write(`${t.type.padEnd(28)} ${t.seconds.toFixed(3).padStart(8)} s  ${(100 * t.share).toFixed(1).padStart(5)} %  ×${t.count}\n`)
for (const n of nodes) process.stderr.write(`  ${n.node.padEnd(70)} ${n.seconds.toFixed(3)} s\n`)
console.log(JSON.stringify({ bench: 'train-profile', layers, batch: B, seq: T, run_seconds: wall.map(round), kernel_seconds: round(total / 1e6), by_type: types, top_nodes: nodes }))
