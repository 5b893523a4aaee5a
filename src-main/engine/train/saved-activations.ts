/**
 * The bytes of forward tensors the training graph keeps for its backward
 * pass: every output of a forward node that a backward node reads (the
 * activations, and the transposed weights the weight-gradient products use).
 * They are read off the graph itself rather than guessed per operator, so a
 * change to the model's graph changes the figure with it.
 *
 * Building the graph of a 24-layer model takes most of a second; every layer
 * is the same and every extra exit adds the same head pass, so the count is
 * taken on 1- and 2-layer graphs of the same width, batch and adapter and
 * scaled: saved(L, k exits) = saved(1 layer) + (L − 1) · layer + (k − 1) · exit.
 * (Checked against the full graph in tests/unit/memory-plan.test.ts.)
 */
import type { DType } from '../onnx/dtype'
import type { Graph, Tensor } from '../onnx/graph'
import { liveNodes } from '../onnx/serialize'
import type { ModelConfig } from '../model/types'
import { buildSortedTrainGraph, type TrainedAdapter } from './sorted-graph'

const dtypeBytes: Record<DType, number> = { float32: 4, float64: 8, float16: 2, int64: 8, int32: 4, bool: 1, uint8: 1 }

/**
 * Sum of the forward tensors (named under the `forward` scope) a later node
 * that runs reads. A transposed graph input (a weight in HF's [out, in] layout read as
 * [in, out]) is not counted: ONNX Runtime folds such a Transpose into the
 * products that read it (FusedMatMul, Gemm's transpose flags), so it is the
 * weight itself, already counted as a weight (measured: a QLoRA run, whose
 * base has no such transposes, peaks lower than LoRA by the weights'
 * difference alone).
 */
export function graphSavedBytes(graph: Graph): number {
  const forward = (name: string) => name.startsWith('forward/')
  const inputs = new Set(graph.inputs)
  const transposedInput = (tensor: Tensor) => tensor.producer!.def.type === 'Transpose' && tensor.producer!.inputs[0] !== undefined && inputs.has(tensor.producer!.inputs[0])
  const seen = new Set<string>()
  let total = 0
  // Only nodes that run: a rule's unused product (a frozen weight's dW) is dropped when the graph is serialized.
  for (const node of liveNodes(graph)) {
    if (forward(node.name)) continue
    for (const tensor of node.inputs) {
      if (!tensor?.producer || !forward(tensor.producer.name) || seen.has(tensor.name) || transposedInput(tensor)) continue
      seen.add(tensor.name)
      const elements = tensor.shape.reduce<number>((n, dim) => n * (typeof dim === 'number' ? dim : Number.NaN), 1)
      total += elements * dtypeBytes[tensor.dtype]
    }
  }
  return total
}

export interface SavedShape {
  batchSize: number
  seqLen: number
  /** How many exits one training graph computes (soft: all; sft: 1; sortednet: 2 when there is more than one exit). */
  graphExits: number
  adapter?: TrainedAdapter | undefined
  /** Activation recomputation (sorted-graph.ts): a layer keeps only its input. */
  recompute?: boolean | undefined
}

function savedOf(config: ModelConfig, layers: number, exits: number[], shape: SavedShape, recompute: boolean): number {
  const small = { ...config, numLayers: layers }
  const { graph } = buildSortedTrainGraph({ config: small, exits, batchSize: shape.batchSize, seqLen: shape.seqLen, mode: 'step', adapter: shape.adapter, recompute })
  return graphSavedBytes(graph)
}

export interface SavedActivations {
  /** Kept from the forward until their backward node runs. */
  savedBytes: number
  /**
   * With recomputation: one layer's activations as its backward rebuilds
   * them (a transient that lives through that layer's backward, then is
   * freed); 0 without.
   */
  recomputedLayerBytes: number
}

export function savedActivations(config: ModelConfig, shape: SavedShape): SavedActivations {
  const recompute = shape.recompute ?? false
  const one = savedOf(config, 1, [1], shape, recompute)
  const two = savedOf(config, 2, [2], shape, recompute)
  const layer = two - one
  const exit = shape.graphExits > 1 ? savedOf(config, 2, [1, 2], shape, recompute) - two : 0
  const savedBytes = one + (config.numLayers - 1) * layer + (shape.graphExits - 1) * exit
  if (!recompute) return { savedBytes, recomputedLayerBytes: 0 }
  // What one layer keeps when it is not recomputed is what its recomputation rebuilds.
  const plainLayer = savedOf(config, 2, [2], shape, false) - savedOf(config, 1, [1], shape, false)
  return { savedBytes, recomputedLayerBytes: plainLayer }
}

export function savedActivationBytes(config: ModelConfig, shape: SavedShape): number {
  return savedActivations(config, shape).savedBytes
}
