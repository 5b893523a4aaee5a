/**
 * Activation recomputation (autodiff.ts, Graph.recomputed): the backward of a
 * recomputed decoder layer reads its forward computed again from the layer's
 * input. The gradients must be those of the plain graph (itself checked
 * against finite differences in sorted-graph.test.ts and qlora.test.ts), and
 * the graph must keep only the layers' inputs for the backward.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { initialAdapter, loraScale, loraSlots } from '../../../../src-main/engine/model/lora'
import { mulberry32 } from '../../../../src-main/engine/data/random'
import type { ModelConfig, ModelWeights } from '../../../../src-main/engine/model/types'
import { weightOf, weightSlots } from '../../../../src-main/engine/model/weight-map'
import { onnx } from '../../../../src-main/engine/onnx/proto'
import { toModelProto } from '../../../../src-main/engine/onnx/serialize'
import { loadSession, tensor, type ort } from '../../../../src-main/engine/onnx/session'
import { parseExits } from '../../../../src-main/engine/train/exits'
import { graphNames } from '../../../../src-main/engine/train/graph-names'
import { frozenBaseValues, quantizeBase } from '../../../../src-main/engine/train/quantized-base'
import { graphSavedBytes } from '../../../../src-main/engine/train/saved-activations'
import { buildSortedTrainGraph, trainedTensors, type TrainedAdapter } from '../../../../src-main/engine/train/sorted-graph'
import type { Tensor } from '../../../../src-main/engine/onnx/graph'
import { Trainer } from '../../../../src-main/engine/train/trainer'
import { recordSource, tinyRecords } from './record-source'
import { tinyConfig, tinyWeights } from '../generate/random-model'

const B = 2
const T = 6
const config = tinyConfig({ layers: 3, vocab: 16, hidden: 32, heads: 4, kvHeads: 2, intermediate: 48, architecture: 'qwen2' })
const exits = parseExits('all', config.numLayers)
const weights = tinyWeights(config, 11)
const lora: TrainedAdapter = { kind: 'lora', rank: 4, alpha: 8, targets: ['q', 'k', 'v', 'o', 'gate', 'up', 'down'], trainNorm: true }
const qlora: TrainedAdapter = { ...lora, trainNorm: false, quantizedBase: { bits: 4, blockSize: 32 } }

/** An adapter whose B is not zero, so that every A gets a gradient. */
function adapterTensors(adapter: TrainedAdapter): Map<string, Float32Array> {
  const tensors = initialAdapter(config, adapter, 3)
  const uniform = mulberry32(4)
  for (const slot of loraSlots(config, adapter)) {
    if (slot.part === 'B') tensors.set(slot.name, Float32Array.from({ length: slot.shape[0] * slot.shape[1] }, () => uniform() - 0.5))
  }
  return tensors
}

function feeds(base: ModelWeights, adapter?: TrainedAdapter): Record<string, ort.Tensor> {
  const batch = recordSource(tinyRecords(T), B).batch(0, 0)
  const f: Record<string, ort.Tensor> = {
    [graphNames.inputIds]: tensor('int64', batch.inputIds, [B, T]),
    [graphNames.labels]: tensor('int64', batch.labels, [B, T]),
  }
  if (!adapter) {
    for (const slot of weightSlots(config)) f[slot.name] = tensor('float32', weightOf(base, slot)!, slot.shape)
    return f
  }
  const tensors = adapterTensors(adapter)
  for (const [name, value] of frozenBaseValues(config, base, adapter)) f[name] = tensor(value.dtype, value.data, value.shape)
  for (const t of trainedTensors(config, adapter)) f[t.name] = tensor('float32', tensors.get(t.name) ?? weightOf(base, weightSlots(config).find((s) => s.name === t.name)!)!, t.shape)
  f[graphNames.loraScale] = tensor('float32', new Float32Array(adapter.rank).fill(loraScale(adapter.alpha, adapter.rank)), [adapter.rank])
  return f
}

async function gradients(config: ModelConfig, base: ModelWeights, adapter: TrainedAdapter | undefined, recompute: boolean): Promise<Map<string, Float32Array>> {
  const { graph } = buildSortedTrainGraph({ config, exits, batchSize: B, seqLen: T, mode: 'gradients', adapter, recompute })
  const { session } = await loadSession(toModelProto(graph), { intraOpThreads: 1 })
  const out = await session.run(feeds(base, adapter))
  await session.release()
  const result = new Map(trainedTensors(config, adapter).map((t) => [t.name, out[graphNames.grad(t.name)]!.data as Float32Array]))
  for (const e of exits) result.set(`loss.${e}`, out[graphNames.exitLoss(e)]!.data as Float32Array)
  return result
}

function maxRelativeGap(a: Float32Array, b: Float32Array): number {
  let scale = 0
  let gap = 0
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]!))
    gap = Math.max(gap, Math.abs(a[i]! - b[i]!))
  }
  return scale === 0 ? gap : gap / scale
}

describe('activation recomputation', () => {
  const variants: [string, ModelWeights, TrainedAdapter | undefined][] = [
    ['full fine-tuning', weights, undefined],
    ['LoRA with the shared norm trained', weights, lora],
    ['QLoRA (4-bit base, dequantized in the backward)', quantizeBase(config, weights, qlora.quantizedBase!), qlora],
  ]
  for (const [name, base, adapter] of variants) {
    it(`gives the plain graph's losses and gradients: ${name}`, async () => {
      const plain = await gradients(config, base, adapter, false)
      const recomputed = await gradients(config, base, adapter, true)
      expect([...recomputed.keys()]).toEqual([...plain.keys()])
      for (const [key, value] of plain) {
        // Every trained tensor gets a gradient (nothing silently zero), and the same one.
        if (!key.startsWith('loss.')) expect(value.some((x) => x !== 0), key).toBe(true)
        expect(maxRelativeGap(recomputed.get(key)!, value), key).toBeLessThan(1e-5)
      }
    })
  }

  it('keeps only each layer\'s input [B, T, d] (and the exits\' own tensors) for the backward', () => {
    const saved = (recompute: boolean, layers: number) =>
      graphSavedBytes(buildSortedTrainGraph({ config: { ...config, numLayers: layers }, exits: [layers], batchSize: B, seqLen: T, mode: 'gradients', adapter: lora, recompute }).graph)
    const perLayerPlain = saved(false, 3) - saved(false, 2)
    const perLayerRecomputed = saved(true, 3) - saved(true, 2)
    expect(perLayerRecomputed).toBe(B * T * config.hiddenSize * 4)
    expect(perLayerPlain).toBeGreaterThan(10 * perLayerRecomputed)
  })

  it('holds each layer\'s recomputation back until its gradient exists (no recomputed node reads only forward tensors)', () => {
    const { graph } = buildSortedTrainGraph({ config, exits, batchSize: B, seqLen: T, mode: 'gradients', recompute: true })
    const recomputedNodes = graph.nodes.filter((n) => n.name.includes('/recompute/'))
    expect(recomputedNodes.length).toBeGreaterThan(0)
    // A recomputed node reading a forward activation directly would let ONNX Runtime run it at once, and merge it with the forward.
    for (const node of recomputedNodes) {
      for (const input of node.inputs) if (input?.producer) expect(input.producer.name.startsWith('forward/'), `${node.name} reads ${input.name}`).toBe(false)
    }
  })

  it('lets the gradient reach a layer only once the layer above has its adapter gradients (so they are not left to the end of the backward)', () => {
    const { graph } = buildSortedTrainGraph({ config, exits: [config.numLayers], batchSize: B, seqLen: T, mode: 'gradients', adapter: lora, recompute: true })
    const output = (name: string) => graph.outputs.find((t) => t.name === graphNames.grad(name))!.producer!.inputs[0]!
    const ancestors = (tensor: Tensor): Set<Tensor> => {
      const seen = new Set<Tensor>()
      const stack = [tensor]
      while (stack.length > 0) {
        const t = stack.pop()!
        if (seen.has(t)) continue
        seen.add(t)
        for (const input of t.producer?.inputs ?? []) if (input) stack.push(input)
      }
      return seen
    }
    const below = ancestors(output('model.layers.0.self_attn.q_proj.lora_A.weight'))
    const above = loraSlots(config, lora).filter((s) => s.layer === 1)
    expect(above.length).toBe(14)
    for (const slot of above) expect(below.has(output(slot.name)), slot.name).toBe(true)
  })
})

describe('a run with recomputation', () => {
  const root = mkdtempSync(join(tmpdir(), 'recompute-run-'))
  afterAll(() => rmSync(root, { recursive: true, force: true }))

  it('trains as the run without it does: the same losses step by step, the same final weights', async () => {
    const run = async (recompute: boolean) => {
      const options = { mode: 'soft', exits, batchSize: B, seqLen: T, gradAccum: 1, totalSteps: 3, lr: 1e-2, weightDecay: 0.01, warmupSteps: 0, schedule: 'constant', maxGradNorm: 1, seed: 5, evalEvery: 0, checkpointEvery: 0, recompute } as const
      // The trainer trains the weights it is given in place: each run gets its own copy.
      const trainer = new Trainer(config, tinyWeights(config, 11), options, recordSource(tinyRecords(T), B), undefined, join(root, String(recompute)), { intraOpThreads: 1 })
      const result = await trainer.run()
      await trainer.release()
      return result
    }
    const plain = await run(false)
    const recomputed = await run(true)
    for (const [k, record] of plain.state.history.entries()) {
      for (const [exit, loss] of Object.entries(record.loss)) expect(recomputed.state.history[k]!.loss[exit]).toBeCloseTo(loss, 5)
    }
    for (const slot of weightSlots(config)) {
      expect(weightOf(plain.weights, slot), `${slot.name} trained`).not.toEqual(weightOf(weights, slot))
      expect(maxRelativeGap(weightOf(recomputed.weights, slot)!, weightOf(plain.weights, slot)!), slot.name).toBeLessThan(1e-4)
    }
  })
})

describe('the embedding\'s gradient', () => {
  it('is built in zeros made at run time: ONNX Runtime does not fold a [vocab, d] constant into the session', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'folded-'))
    try {
      const { graph } = buildSortedTrainGraph({ config, exits, batchSize: B, seqLen: T, mode: 'gradients', recompute: true })
      const optimized = join(dir, 'optimized.onnx')
      const { session } = await loadSession(toModelProto(graph), { intraOpThreads: 1, optimizedModelFilePath: optimized })
      await session.release()
      const model = onnx.ModelProto.decode(readFileSync(optimized))
      const vocabSized = model.graph!.initializer!.filter((t) => t.dims!.map(Number).join(',') === `${config.vocabSize},${config.hiddenSize}`)
      expect(vocabSized.map((t) => t.name)).toEqual([])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

