import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { mulberry32 } from '../../../../src-main/engine/data/random'
import { initialAdapter, loraScale, loraSlots } from '../../../../src-main/engine/model/lora'
import { mergedWeights, readPeftAdapter, writePeftAdapter } from '../../../../src-main/engine/model/peft-adapter'
import { dequantizeLinear, quantizeLinear } from '../../../../src-main/engine/model/quant/blockwise'
import type { LinearField, ModelWeights } from '../../../../src-main/engine/model/types'
import { setWeight, weightOf, weightSlots } from '../../../../src-main/engine/model/weight-map'
import { grad } from '../../../../src-main/engine/onnx/autodiff'
import { Graph } from '../../../../src-main/engine/onnx/graph'
import { mul, reduceSum } from '../../../../src-main/engine/onnx/ops/basic'
import { frozenMatmulNBits } from '../../../../src-main/engine/onnx/ops/contrib'
import { toModelProto } from '../../../../src-main/engine/onnx/serialize'
import { loadSession, tensor, type ort } from '../../../../src-main/engine/onnx/session'
import { parseExits } from '../../../../src-main/engine/train/exits'
import { graphNames } from '../../../../src-main/engine/train/graph-names'
import { frozenBaseValues, quantizeBase } from '../../../../src-main/engine/train/quantized-base'
import { buildSortedEvaluationGraph, buildSortedTrainGraph, type TrainedAdapter } from '../../../../src-main/engine/train/sorted-graph'
import { Trainer } from '../../../../src-main/engine/train/trainer'
import { recordSource, tinyRecords } from './record-source'
import { tinyConfig, tinyWeights } from '../generate/random-model'

// hidden 32 and intermediate 48: K = 48 (down_proj) is not a multiple of the block, so the padded last block is exercised too.
const config = tinyConfig({ layers: 2, vocab: 16, hidden: 32, heads: 2, kvHeads: 1, intermediate: 48, architecture: 'qwen2' })
const T = 6
const B = 2
const records = tinyRecords(T)
const lora: TrainedAdapter = { kind: 'lora', rank: 4, alpha: 8, targets: ['q', 'k', 'v', 'o', 'gate', 'up', 'down'], trainNorm: false }
const qlora: TrainedAdapter = { ...lora, quantizedBase: { bits: 4, blockSize: 32 } }
const floatWeights = tinyWeights(config, 5)
const quantized = quantizeBase(config, floatWeights, qlora.quantizedBase!)

const source = (batchSize: number) => recordSource(records, batchSize)

/** The fp32 weights a 4-bit base stands for: each Linear dequantized (blockwise.ts dequantizeLinear), the rest as they are. */
function dequantizedBase(weights: ModelWeights): ModelWeights {
  const out: ModelWeights = { ...weights, layers: weights.layers.map((layer) => ({ ...layer, prequantized: undefined })) }
  for (const slot of weightSlots(config)) {
    if (slot.role === 'linear') setWeight(out, slot, dequantizeLinear(weights.layers[slot.layer!]!.prequantized![slot.field as LinearField]!))
  }
  return out
}

/** An adapter whose B is not zero (a fresh one changes nothing, so it would prove nothing). */
function trainedLookingAdapter(seed: number): Map<string, Float32Array> {
  const tensors = initialAdapter(config, lora, seed)
  const uniform = mulberry32(seed + 1)
  for (const slot of loraSlots(config, lora)) {
    if (slot.part === 'B') tensors.set(slot.name, Float32Array.from({ length: slot.shape[0] * slot.shape[1] }, () => uniform() - 0.5))
  }
  return tensors
}

function feedsFor(weights: ModelWeights, adapter: TrainedAdapter | undefined, tensors?: Map<string, Float32Array>): Record<string, ort.Tensor> {
  const batch = source(B).batch(0, 0)
  const feeds: Record<string, ort.Tensor> = {
    [graphNames.inputIds]: tensor('int64', batch.inputIds, [B, T]),
    [graphNames.labels]: tensor('int64', batch.labels, [B, T]),
  }
  if (!adapter) {
    for (const slot of weightSlots(config)) feeds[slot.name] = tensor('float32', weightOf(weights, slot)!, slot.shape)
    return feeds
  }
  for (const [name, value] of frozenBaseValues(config, weights, adapter)) feeds[name] = tensor(value.dtype, value.data, value.shape)
  for (const slot of loraSlots(config, adapter)) feeds[slot.name] = tensor('float32', tensors!.get(slot.name)!, slot.shape)
  feeds[graphNames.loraScale] = tensor('float32', new Float32Array(adapter.rank).fill(loraScale(adapter.alpha, adapter.rank)), [adapter.rank])
  return feeds
}

async function run(graph: Graph, feeds: Record<string, ort.Tensor>): Promise<ort.InferenceSession.OnnxValueMapType> {
  const { session } = await loadSession(toModelProto(graph), { intraOpThreads: 1 })
  const out = await session.run(feeds)
  await session.release()
  return out
}

const exits = parseExits('all', config.numLayers)

async function exitLosses(weights: ModelWeights, adapter?: TrainedAdapter, tensors?: Map<string, Float32Array>): Promise<number[]> {
  const out = await run(buildSortedEvaluationGraph({ config, exits, batchSize: B, seqLen: T, adapter }), feedsFor(weights, adapter, tensors))
  return exits.map((e) => Number(out[graphNames.exitLoss(e)]!.data[0]))
}

async function gradients(weights: ModelWeights, adapter: TrainedAdapter, tensors: Map<string, Float32Array>): Promise<{ losses: number[]; grads: Map<string, Float32Array> }> {
  const { graph } = buildSortedTrainGraph({ config, exits, batchSize: B, seqLen: T, mode: 'gradients', adapter })
  const out = await run(graph, feedsFor(weights, adapter, tensors))
  const grads = new Map(loraSlots(config, adapter).map((s) => [s.name, out[graphNames.grad(s.name)]!.data as Float32Array]))
  return { losses: exits.map((e) => Number(out[graphNames.exitLoss(e)]!.data[0])), grads }
}

function maxRelativeGap(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 0
  let gap = 0
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]!))
    gap = Math.max(gap, Math.abs(a[i]! - b[i]!))
  }
  return gap / scale
}

describe('MatMulNBits on a frozen 4-bit weight', () => {
  it('gives x the gradient dY·W of the dequantized weight, built in the backward pass, and the weight none', async () => {
    const [M, N, K] = [5, 24, 40] // K = 40: a padded second block of 32
    const uniform = mulberry32(3)
    const w = Float32Array.from({ length: N * K }, () => uniform() - 0.5)
    const q = quantizeLinear(w, N, K, { bits: 4, blockSize: 32 })
    const x = Float32Array.from({ length: M * K }, () => uniform() - 0.5)
    const weigh = Float32Array.from({ length: M * N }, () => uniform() - 0.5)
    const graph = new Graph('frozen-nbits', new Set(['MatMulNBits']))
    const xt = graph.input('x', 'float32', [M, K])
    const packed = graph.input('b', 'uint8', [N, 2, 16])
    const scales = graph.input('scales', 'float32', [N, 2])
    const y = frozenMatmulNBits(xt, { b: packed, scales }, { k: K, n: N, blockSize: 32, accuracyLevel: 0 })
    const loss = reduceSum(mul(y, graph.constant(weigh, 'float32', [M, N])), [0, 1])
    const [dx] = grad(loss, [xt])
    graph.output(y, 'y')
    graph.output(dx!, 'dx')
    const out = await run(graph, { x: tensor('float32', x, [M, K]), b: tensor('uint8', q.b, [N, 2, 16]), scales: tensor('float32', q.scales, [N, 2]) })
    // Independent reference: the weight dequantized in JS (blockwise.ts), products in float64.
    const wd = dequantizeLinear(q)
    const yRef = new Float64Array(M * N)
    const dxRef = new Float64Array(M * K)
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        for (let k = 0; k < K; k++) {
          yRef[m * N + n]! += x[m * K + k]! * wd[n * K + k]!
          dxRef[m * K + k]! += weigh[m * N + n]! * wd[n * K + k]!
        }
      }
    }
    expect(maxRelativeGap(out.y!.data as Float32Array, yRef)).toBeLessThan(1e-5)
    expect(maxRelativeGap(out.dx!.data as Float32Array, dxRef)).toBeLessThan(1e-5)
  })
})

describe('QLoRA training graphs', () => {
  const tensors = trainedLookingAdapter(11)

  it('feed each decoder Linear as 4-bit codes and scales (no fp32 copy) and differentiate only the adapter', () => {
    const { graph } = buildSortedTrainGraph({ config, exits, batchSize: B, seqLen: T, mode: 'gradients', adapter: qlora })
    const inputs = new Map(graph.inputs.map((t) => [t.name, t]))
    for (const slot of weightSlots(config)) {
      if (slot.role !== 'linear') {
        expect(inputs.get(slot.name)?.dtype).toBe('float32')
        continue
      }
      expect(inputs.has(slot.name)).toBe(false)
      expect(inputs.get(graphNames.quantizedPacked(slot.name))?.dtype).toBe('uint8')
      expect(inputs.get(graphNames.quantizedScales(slot.name))?.dtype).toBe('float32')
    }
    expect(graph.outputs.map((t) => t.name).filter((n) => n.startsWith('grad.'))).toEqual(loraSlots(config, lora).map((s) => `grad.${s.name}`))
  })

  it('rebuild no fp32 weight before the backward reaches its layer: every backward node depends on something the forward computed', () => {
    // A node fed only by graph inputs and constants may run first; a dequantization there holds its fp32 weight through the whole forward.
    const { graph } = buildSortedTrainGraph({ config, exits, batchSize: B, seqLen: T, mode: 'gradients', adapter: qlora })
    const fromForward = new Set<string>()
    for (const node of graph.nodes) {
      const reads = node.inputs.some((t) => t?.producer && (t.producer.name.startsWith('forward/') || fromForward.has(t.name)))
      if (node.name.startsWith('forward/') || reads) for (const out of node.outputs) fromForward.add(out.name)
    }
    const inputs = new Set(graph.inputs)
    const early = graph.nodes.filter((n) => !n.name.startsWith('forward/') && !n.outputs.some((t) => fromForward.has(t.name)) && n.inputs.some((t) => t && inputs.has(t)))
    expect(graph.nodes.some((n) => n.def.type === 'BitwiseAnd')).toBe(true)
    expect(early.map((n) => `${n.def.type} ${n.name}`)).toEqual([])
  })

  it('give the losses and A/B gradients of fp32 LoRA on the dequantized base weights', async () => {
    const q = await gradients(quantized, qlora, tensors)
    const reference = await gradients(dequantizedBase(quantized), lora, tensors)
    expect(maxRelativeGap(q.losses, reference.losses)).toBeLessThan(1e-5)
    for (const [name, g] of reference.grads) expect(maxRelativeGap(q.grads.get(name)!, g), name).toBeLessThan(1e-4)
    // The quantized base is a different model from the float one: the comparison is not between two copies of one run.
    const float = await gradients(floatWeights, lora, tensors)
    expect(maxRelativeGap(q.losses, float.losses)).toBeGreaterThan(1e-4)
  })

  it('match central finite differences of the loss in A and B (float32, a few entries of each)', async () => {
    const q = await gradients(quantized, qlora, tensors)
    const objective = async (changed: Map<string, Float32Array>) => {
      const losses = await exitLosses(quantized, qlora, changed)
      return losses.reduce((a, b) => a + b, 0) / losses.length
    }
    const eps = 1e-2
    // In each tensor, its largest gradient entry: a float32 difference quotient resolves it well.
    const names = ['model.layers.0.self_attn.q_proj.lora_A.weight', 'model.layers.1.mlp.down_proj.lora_A.weight', 'model.layers.0.mlp.up_proj.lora_B.weight', 'model.layers.1.self_attn.o_proj.lora_B.weight']
    for (const name of names) {
      const g = q.grads.get(name)!
      const index = g.reduce((best, v, i) => (Math.abs(v) > Math.abs(g[best]!) ? i : best), 0)
      const at = (delta: number) => new Map([...tensors].map(([n, t]) => [n, n === name ? t.map((v, i) => (i === index ? v + delta : v)) : t]))
      const numeric = ((await objective(at(eps))) - (await objective(at(-eps)))) / (2 * eps)
      const analytic = q.grads.get(name)![index]!
      expect(Math.abs(analytic), name).toBeGreaterThan(1e-3)
      expect(Math.abs(numeric - analytic) / Math.abs(analytic), name).toBeLessThan(1e-2)
    }
  })
})

const root = mkdtempSync(join(tmpdir(), 'qlora-trainer-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

describe('QLoRA trainer', () => {
  it('one step changes only A and B: the 4-bit codes, scales and fp32 norms and embedding stay as loaded', async () => {
    const base = quantizeBase(config, tinyWeights(config, 3), qlora.quantizedBase!)
    const before = frozenBaseValues(config, base, qlora)
    const copies = new Map([...before].map(([name, v]) => [name, v.data.slice()]))
    const options = { mode: 'soft', exits, batchSize: 4, seqLen: T, gradAccum: 1, totalSteps: 1, lr: 3e-2, weightDecay: 0.01, warmupSteps: 0, schedule: 'constant', maxGradNorm: 1, seed: 7, evalEvery: 0, checkpointEvery: 0, adapter: qlora } as const
    const trainer = new Trainer(config, base, options, source(4), undefined, join(root, 'step'), { intraOpThreads: 1 })
    const result = await trainer.run()
    await trainer.release()
    for (const [name, data] of copies) expect(frozenBaseValues(config, result.weights, qlora).get(name)!.data, name).toEqual(data)
    const fresh = initialAdapter(config, qlora, 7)
    for (const slot of loraSlots(config, qlora)) expect(result.adapter!.get(slot.name), slot.name).not.toEqual(fresh.get(slot.name))
  })

  it('saves a PEFT adapter that applies to the float base: merged into the dequantized base it repeats the QLoRA losses; into the float base, within the base’s own quantization gap', async () => {
    const base = quantizeBase(config, floatWeights, qlora.quantizedBase!)
    const options = { mode: 'soft', exits, batchSize: 4, seqLen: T, gradAccum: 1, totalSteps: 6, lr: 3e-2, weightDecay: 0.01, warmupSteps: 0, schedule: 'constant', maxGradNorm: 1, seed: 8, evalEvery: 0, checkpointEvery: 0, adapter: qlora } as const
    const trainer = new Trainer(config, base, options, source(4), undefined, join(root, 'peft'), { intraOpThreads: 1 })
    const result = await trainer.run()
    await trainer.release()
    const out = join(root, 'adapter')
    writePeftAdapter(out, config, { spec: qlora, tensors: result.adapter!, norm: undefined, baseModel: 'base', sorted: { exits: [1, 2], results: {} } })
    const saved = readPeftAdapter(out, config)

    const unmerged = await exitLosses(base, qlora, result.adapter!)
    const onDequantized = await exitLosses(mergedWeights(config, dequantizedBase(base), saved))
    const onFloat = await exitLosses(mergedWeights(config, floatWeights, saved))
    expect(maxRelativeGap(onDequantized, unmerged)).toBeLessThan(1e-5)
    // The rule: W + ΔW and dequant(W) + ΔW differ by exactly the base's quantization error, so the merged float model
    // is as far from the QLoRA model as the float base is from its 4-bit copy (a margin of 2× for the adapter's effect on curvature).
    const baseGap = maxRelativeGap(await exitLosses(dequantizedBase(base)), await exitLosses(floatWeights))
    expect(baseGap).toBeGreaterThan(0)
    expect(maxRelativeGap(onFloat, unmerged)).toBeLessThanOrEqual(2 * baseGap)
    // …and the adapter did move the model: the merged model is not the base.
    expect(maxRelativeGap(onFloat, await exitLosses(floatWeights))).toBeGreaterThan(10 * baseGap)
  })
})
