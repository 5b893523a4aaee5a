/**
 * Datasets (engine/data) as the fixed-shape batches the compiled training
 * graphs take: every batch is [batchSize, seqLen], padded on the right with
 * ignored labels (exact for a causal model). Training batches wrap around
 * the epoch's end; validation batches never repeat a record — a short last
 * batch is filled with rows that count no target.
 */
import { epochSeed, makeBatches, type BatchMode, type TokenizedRecord } from '../data'
import type { BatchSource, TrainingBatch } from './trainer'

function toBatch(ids: Int32Array, labels: Int32Array, rows: number, batchSize: number, seqLen: number): TrainingBatch {
  const inputIds = new BigInt64Array(batchSize * seqLen)
  const targets = new BigInt64Array(batchSize * seqLen).fill(-100n)
  for (let i = 0; i < rows * seqLen; i++) {
    inputIds[i] = BigInt(ids[i]!)
    targets[i] = BigInt(labels[i]!)
  }
  return { inputIds, labels: targets }
}

export interface SourceOptions {
  batchSize: number
  seqLen: number
  seed: number
  shuffle: boolean
  mode?: BatchMode
}

export function trainingSource(records: readonly TokenizedRecord[], options: SourceOptions): BatchSource {
  const { batchSize, seqLen, seed } = options
  const plan = makeBatches(records, { batchSize, seqLen, mode: options.mode ?? 'padding', padTo: 'seqLen', shuffle: options.shuffle, wrap: true })
  return {
    batchesPerEpoch: plan.batchesPerEpoch,
    batch: (epoch, index) => {
      const b = plan.batch(epochSeed(seed, epoch), index)
      return toBatch(b.inputIds, b.labels, b.rows, batchSize, seqLen)
    },
  }
}

export function validationSource(records: readonly TokenizedRecord[], options: Omit<SourceOptions, 'shuffle' | 'seed'>): BatchSource | undefined {
  if (records.length === 0) return undefined
  const { batchSize, seqLen } = options
  const plan = makeBatches(records, { batchSize, seqLen, mode: options.mode ?? 'padding', padTo: 'seqLen', shuffle: false, wrap: false })
  return {
    batchesPerEpoch: plan.batchesPerEpoch,
    batch: (_epoch, index) => {
      const b = plan.batch(0, index)
      return toBatch(b.inputIds, b.labels, b.rows, batchSize, seqLen)
    },
  }
}
