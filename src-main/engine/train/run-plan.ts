/**
 * The plan of one training step, before anything is allocated: its predicted
 * peak memory (memory-plan.ts over the tensors counted on the graph by
 * saved-activations.ts), its predicted time (estimate.ts), and how many
 * parameters it trains. `sorted tune --dry-run`, the run memory check and
 * the app's runs.estimate all read these same figures.
 */
import type { ModelConfig } from '../model/types'
import { quantizedMatrixBytes } from '../model/weight-size'
import { slotSize, weightSlots } from '../model/weight-map'
import { estimateRun, modelShape } from './estimate'
import { planMemory, type MemoryPlan } from './memory-plan'
import { logitChunkValues } from '../onnx/ops/fused'
import { savedActivations } from './saved-activations'
import { trainedTensors, type QuantizedBase, type TrainedAdapter } from './sorted-graph'
import type { TrainMode } from './trainer'

export interface StepShape {
  mode: TrainMode
  /** Configured exits, ascending, ending with the full model. */
  exits: number[]
  batchSize: number
  seqLen: number
  adapter?: TrainedAdapter | undefined
  /** Activation recomputation on (sorted-graph.ts); default off. */
  recompute?: boolean | undefined
}

export interface StepPlan {
  memory: MemoryPlan
  /** One optimizer step of one micro-batch, at the CPU rate estimate.ts assumes. */
  stepSeconds: number
  parameters: number
  trainableParameters: number
}

/** How many exits one training graph computes: all (soft), the last (sft), the last and one drawn (sortednet). */
export function graphExitCount(mode: TrainMode, exits: number[]): number {
  if (mode === 'soft') return exits.length
  if (mode === 'sortednet') return Math.min(2, exits.length)
  return 1
}

export function trainableParameterCount(config: ModelConfig, adapter?: TrainedAdapter): number {
  return trainedTensors(config, adapter).reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0)
}

/**
 * A QLoRA base's resident bytes: fp32 everything but the decoder Linears,
 * those as 4-bit codes and scales; plus two fp32 copies of the largest Linear
 * (the backward's dequantization of one weight at a time: its float codes
 * and the scaled weight exist together, then are freed).
 */
export function quantizedBaseBytes(config: ModelConfig, base: QuantizedBase): number {
  let bytes = 0
  let largest = 0
  for (const slot of weightSlots(config)) {
    if (slot.role !== 'linear') {
      bytes += slotSize(slot) * 4
      continue
    }
    bytes += quantizedMatrixBytes(slot.shape[0]!, slot.shape[1]!, base.bits, base.blockSize)
    largest = Math.max(largest, slotSize(slot))
  }
  return bytes + 2 * 4 * largest
}

/** One chunk of an exit's logits as the fused LM head + cross-entropy computes them (onnx/ops/fused.ts). */
export function logitChunkBytes(config: ModelConfig, batchSize: number, seqLen: number): number {
  const rows = batchSize * (seqLen - 1)
  return Math.min(rows, Math.max(1, Math.floor(logitChunkValues / config.vocabSize))) * config.vocabSize * 4
}

export function planStep(config: ModelConfig, step: StepShape): StepPlan {
  const shape = modelShape(config)
  const trainableParameters = trainableParameterCount(config, step.adapter)
  const saved = savedActivations(config, { batchSize: step.batchSize, seqLen: step.seqLen, graphExits: graphExitCount(step.mode, step.exits), adapter: step.adapter, recompute: step.recompute })
  const base = step.adapter?.quantizedBase
  const memory = planMemory({
    parameters: shape.parameters,
    trainedParameters: trainableParameters,
    savedActivationBytes: saved.savedBytes,
    recomputedLayerBytes: saved.recomputedLayerBytes,
    logitChunkBytes: logitChunkBytes(config, step.batchSize, step.seqLen),
    ...(base ? { weightBytes: quantizedBaseBytes(config, base) } : {}),
  })
  const time = estimateRun(shape, { mode: step.mode, exits: step.exits, batchSize: step.batchSize, seqLen: step.seqLen, gradAccum: 1, steps: 1, validationBatches: 0, validations: 0, trainedParameters: trainableParameters, recompute: step.recompute })
  return { memory, stepSeconds: time.seconds, parameters: shape.parameters, trainableParameters }
}
