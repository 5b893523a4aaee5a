/**
 * The training graphs of Sorted Fine-Tuning. Sub-model e is the first e
 * layers plus the model's own final norm and LM head; its loss is the token
 * cross-entropy of next-token prediction (labels shifted inside), summed over
 * the batch and divided by the number of counted (≠ −100) targets. The head
 * is shared by every exit, so its gradient sums their contributions.
 *
 * Parameters are graph inputs named as in the Hugging Face checkpoint
 * (`model.layers.3.mlp.up_proj.weight`), in [out, in] layout, so a run
 * starts from and exports to the same files. Every input and output name
 * comes from graph-names.ts: `input_ids`, `labels`, `loss.<exit>`,
 * `loss.tokens` (counted targets), `objective`, updated `<name>.new`,
 * `m.<name>.new`, `v.<name>.new`, `gradNorm`, or `grad.<name>`.
 *
 * With an adapter (LoRA / DyLoRA), the trained parameters are the adapter's
 * A and B (and the shared final norm when `trainNorm`); the base weights
 * become frozen inputs under their own names, with no gradient and no
 * optimizer state, and each adapted projection reads x·W + scale·(x·Aᵀ)·Bᵀ
 * (model/layers.ts `LoraLinear`) with the per-rank scale fed as `lora.scale`.
 *
 * QLoRA (an adapter with `quantizedBase`): the decoder Linear weights of the
 * frozen base are fed 4-bit, as MatMulNBits' packed codes and scales
 * (`<name>.B`, `<name>.scales`, graph-names.ts), and each runs as MatMulNBits
 * whose backward rebuilds the fp32 weight only for the product that needs
 * it (onnx/ops/contrib.ts frozenMatmulNBits). Norms, embedding and head stay
 * fp32 and frozen as in LoRA; the graphs then use the MatMulNBits contrib op.
 */
import { decoderLayer, rmsNorm, type BlockWeights, type LinearWeight } from '../model/layers'
import { loraSlots, type AdapterSpec } from '../model/lora'
import { matmulNBitsShapes } from '../model/quant/blockwise'
import { ropeTables } from '../model/rope'
import type { ModelConfig } from '../model/types'
import { layerSlots, outerSlots, weightSlots, type WeightSlot } from '../model/weight-map'
import { Graph, type Tensor } from '../onnx/graph'
import { div, reshape, sum } from '../onnx/ops/basic'
import { linearCrossEntropy } from '../onnx/ops/fused'
import { gather } from '../onnx/ops/indexing'
import { slice } from '../onnx/ops/shape'
import { buildTrainStep, type AdamWOptions, type TensorSpec, type TrainStepGraph } from '../onnx/optimizer'
import { graphNames, lossKeys } from './graph-names'

export interface SortedGraphOptions {
  config: ModelConfig
  /** Exits whose losses the graph computes; the objective is their mean. */
  exits: number[]
  batchSize: number
  seqLen: number
  mode: 'step' | 'gradients'
  optimizer?: AdamWOptions
  /** Train a low-rank adapter on the frozen base instead of every weight. */
  adapter?: TrainedAdapter | undefined
  /**
   * Activation recomputation: each decoder layer's backward computes its
   * forward again from the layer's input, so a step keeps one [B, T, d]
   * tensor per layer instead of all of its activations (about a third more
   * arithmetic). Default off.
   */
  recompute?: boolean | undefined
}

/** QLoRA's frozen base: its decoder Linear weights held 4-bit, blockwise symmetric (MatMulNBits' layout, quant/blockwise.ts). */
export interface QuantizedBase {
  bits: 4
  blockSize: 32 | 64 | 128
}

/** An adapter to train, whether the exits' shared final norm trains with it, and whether the base is quantized (QLoRA). */
export interface TrainedAdapter extends AdapterSpec {
  trainNorm: boolean
  quantizedBase?: QuantizedBase | undefined
}

/** The contrib ops a run's graphs use: MatMulNBits for a QLoRA base, none otherwise. */
export function graphContribOps(adapter?: TrainedAdapter): ReadonlySet<string> {
  return new Set(adapter?.quantizedBase ? ['MatMulNBits'] : [])
}

/** The two frozen inputs a 4-bit base Linear [N, K] is fed as: packed codes (uint8) and scales. */
export function quantizedBaseSpecs(slot: WeightSlot, base: QuantizedBase): [TensorSpec, TensorSpec] {
  const shapes = matmulNBitsShapes({ n: slot.shape[0]!, k: slot.shape[1]!, bits: base.bits, blockSize: base.blockSize })
  return [
    { name: graphNames.quantizedPacked(slot.name), dtype: 'uint8', shape: shapes.b },
    { name: graphNames.quantizedScales(slot.name), dtype: 'float32', shape: shapes.scales },
  ]
}

/** A tensor the optimizer updates. */
export interface TrainedTensor extends TensorSpec {
  shape: number[]
  /** Norm weights and biases are not decayed (the usual transformers Trainer rule); adapter matrices are. */
  noDecay: boolean
}

export function parameterSpecs(config: ModelConfig): TensorSpec[] {
  return weightSlots(config).map((slot) => ({ name: slot.name, dtype: 'float32', shape: slot.shape }))
}

/** Norm weights and biases are not decayed (the usual transformers Trainer rule). */
export function isNoDecay(slot: WeightSlot): boolean {
  return slot.role === 'norm' || slot.role === 'bias'
}

/** What the optimizer updates: every weight (full fine-tuning), or the adapter (+ the final norm with trainNorm). */
export function trainedTensors(config: ModelConfig, adapter?: TrainedAdapter): TrainedTensor[] {
  const slotTensor = (slot: WeightSlot): TrainedTensor => ({ name: slot.name, dtype: 'float32', shape: slot.shape, noDecay: isNoDecay(slot) })
  if (!adapter) return weightSlots(config).map(slotTensor)
  const tensors: TrainedTensor[] = loraSlots(config, adapter).map((s) => ({ name: s.name, dtype: 'float32', shape: s.shape, noDecay: false }))
  if (adapter.trainNorm) tensors.push(slotTensor(outerSlots(config).norm))
  return tensors
}

/**
 * What the graphs read but never update: nothing (full fine-tuning), or the
 * base weights (QLoRA: each decoder Linear as packed codes and scales) and
 * the adapter's per-rank scale.
 */
export function frozenTensors(config: ModelConfig, adapter?: TrainedAdapter): TensorSpec[] {
  if (!adapter) return []
  const trained = new Set(trainedTensors(config, adapter).map((t) => t.name))
  const base = adapter.quantizedBase
  return [
    ...weightSlots(config)
      .filter((slot) => !trained.has(slot.name))
      .flatMap((slot): TensorSpec[] => (base && slot.role === 'linear' ? quantizedBaseSpecs(slot, base) : [{ name: slot.name, dtype: 'float32', shape: slot.shape }])),
    { name: graphNames.loraScale, dtype: 'float32', shape: [adapter.rank] },
  ]
}

/** Per-exit losses of one batch: Map exit → { loss, count }. */
export function sortedLosses(
  graph: Graph,
  params: Record<string, Tensor>,
  ids: Tensor,
  labels: Tensor,
  config: ModelConfig,
  exits: readonly number[],
  adapter?: AdapterSpec & Pick<TrainedAdapter, 'quantizedBase'>,
  recompute = false,
): { losses: Map<number, Tensor>; count: Tensor } {
  const [B, T] = ids.shape as [number, number]
  const d = config.hiddenSize
  const p = (name: string) => {
    const t = params[name]
    if (!t) throw new Error(`missing parameter ${name}`)
    return t
  }
  const { cos, sin } = ropeTables(config, 0, T)
  const cosT = graph.constant(cos, 'float32', [T, config.headDim])
  const sinT = graph.constant(sin, 'float32', [T, config.headDim])
  const blockConfig = { heads: config.numHeads, kvHeads: config.numKvHeads, headDim: config.headDim, rmsNormEps: config.rmsNormEps }
  const outer = outerSlots(config)
  // The fused LM head reads [vocab, d] as stored; a tied model's head is its embedding.
  const head = p((outer.head ?? outer.embed).name)
  // Next-token targets: position t predicts label t+1.
  const targets = reshape(slice(labels, { starts: [1], ends: [T], axes: [1] }), [B * (T - 1)])
  const adapted = new Map(adapter ? loraSlots(config, adapter).map((s) => [`${s.layer}.${s.field}.${s.part}`, s.name]) : [])
  const deepest = Math.max(...exits)
  const losses = new Map<number, Tensor>()
  let count: Tensor | undefined
  let hidden = gather(p(outer.embed.name), ids)
  for (let l = 0; l < deepest; l++) {
    // A recomputed layer keeps only its input for the backward (autodiff.ts).
    const layerScope = recompute ? graph.recomputed.bind(graph) : graph.scope.bind(graph)
    hidden = layerScope(`layer_${l}`, () => {
      // Parameters keep HF's [out, in] layout (checkpoints and export read them so); the block reads them as rows (x·Wᵀ, no transposed copy).
      const w: Record<string, LinearWeight> = {}
      for (const slot of layerSlots(config, l)) {
        if (slot.role !== 'linear') {
          w[slot.field] = p(slot.name)
          continue
        }
        const quantized = adapter?.quantizedBase
        const base: LinearWeight = quantized
          ? { packed: p(graphNames.quantizedPacked(slot.name)), scales: p(graphNames.quantizedScales(slot.name)), n: slot.shape[0]!, k: slot.shape[1]!, blockSize: quantized.blockSize }
          : { rows: p(slot.name) }
        const a = adapted.get(`${l}.${slot.field}.A`)
        const b = adapted.get(`${l}.${slot.field}.B`)
        w[slot.field] = a && b ? { base: base as Exclude<LinearWeight, { base: unknown }>, a: p(a), b: p(b), scale: p(graphNames.loraScale) } : base
      }
      return decoderLayer(hidden, w as unknown as BlockWeights, blockConfig, cosT, sinT).hidden
    })
    const exit = l + 1
    if (!exits.includes(exit)) continue
    graph.scope(`exit_${exit}`, () => {
      const normed = rmsNorm(hidden, p(outer.norm.name), config.rmsNormEps)
      const predicting = reshape(slice(normed, { starts: [0], ends: [T - 1], axes: [1] }), [B * (T - 1), d])
      const ce = linearCrossEntropy(predicting, head, targets)
      losses.set(exit, ce.loss)
      count ??= ce.count
    })
  }
  return { losses, count: count! }
}

/** The batch inputs of every training and evaluation graph: token ids and labels, [B, T]. */
function batchSpecs(batchSize: number, seqLen: number): TensorSpec[] {
  return [
    { name: graphNames.inputIds, dtype: 'int64', shape: [batchSize, seqLen] },
    { name: graphNames.labels, dtype: 'int64', shape: [batchSize, seqLen] },
  ]
}

export function buildSortedTrainGraph(options: SortedGraphOptions): TrainStepGraph {
  const { config, exits, batchSize: B, seqLen: T } = options
  if (T < 2) throw new Error('seqLen must be at least 2 (a token and the one it predicts)')
  const trained = trainedTensors(config, options.adapter)
  return buildTrainStep({
    mode: options.mode,
    name: `sorted-${options.mode}-${exits.join('_')}`,
    params: trained,
    frozen: frozenTensors(config, options.adapter),
    contribOps: graphContribOps(options.adapter),
    batchInputs: batchSpecs(B, T),
    optimizer: { ...options.optimizer, noDecay: (index) => trained[index]!.noDecay },
    build: (params, batch) => {
      const ids = batch[graphNames.inputIds]!
      const { losses, count } = sortedLosses(ids.graph, params, ids, batch[graphNames.labels]!, config, exits, options.adapter, options.recompute)
      const perExit = [...losses.values()]
      const objective = div(sum(perExit), perExit.length)
      return { losses: { ...Object.fromEntries([...losses].map(([e, loss]) => [lossKeys.exit(e), loss])), [lossKeys.tokens]: count }, objective }
    },
  })
}

/** Forward only, for validation: each exit's mean token loss of one batch and its counted targets. */
export function buildSortedEvaluationGraph(options: Omit<SortedGraphOptions, 'mode' | 'optimizer' | 'recompute'>): Graph {
  const { config, exits, batchSize: B, seqLen: T, adapter } = options
  const graph = new Graph('sorted-evaluate', graphContribOps(adapter))
  const specs = [...trainedTensors(config, adapter), ...frozenTensors(config, adapter)]
  const params = Object.fromEntries(specs.map((s) => [s.name, graph.input(graphNames.param(s.name), s.dtype, s.shape)]))
  const [ids, labels] = batchSpecs(B, T).map((s) => graph.input(s.name, s.dtype, s.shape)) as [Tensor, Tensor]
  const { losses, count } = sortedLosses(graph, params, ids, labels, config, exits, adapter)
  for (const [exit, loss] of losses) graph.output(loss, graphNames.exitLoss(exit))
  graph.output(count, graphNames.tokens)
  return graph
}
