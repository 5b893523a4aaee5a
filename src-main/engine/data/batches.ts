/**
 * Tokenized records → fixed-size batches, in an order that a checkpoint of
 * {epoch, batchIndex} is enough to resume exactly.
 *
 * Rows are records (padding) or packed windows of records (packing); call
 * them items. An epoch visits ceil(N / B) batches of B rows each; batch s
 * holds items order[(s·B + j) mod N] for j = 0 … B−1, so the last batch
 * wraps around to the first items and every batch has B rows. The order is
 * the file's without shuffling, else a seeded permutation per epoch (see
 * random.ts): batch s of an epoch depends only on (epochSeed, s).
 *
 * Padding is on the RIGHT only, with labels IGNORE_INDEX. The model has no
 * padding mask, and needs none: under causal attention a real token never
 * attends to the padding after it, and the padding's own outputs are never
 * in the loss, so a right-padded row computes exactly what the unpadded
 * record would (positions stay 0, 1, 2…). The pad id is therefore arbitrary
 * (padTokenId, 0 by default). Left padding would shift positions and let
 * tokens attend to padding: never do it here.
 *
 * Packing concatenates whole records, in file order, into windows of seqLen
 * tokens, starting a new window when the next record does not fit, and pads
 * the rest of each window. As in Hugging Face's simple packing
 * (`group_texts`), records in one window attend to the records before them
 * and take positions from where those ended; their prompts are masked, so
 * no record is trained to predict another's first token.
 */
import { IGNORE_INDEX } from './formats'
import { permutation } from './random'
import type { TokenizedRecord } from './tokenize'

export type BatchMode = 'padding' | 'packing'

export interface BatchOptions {
  /** Rows per batch. */
  batchSize: number
  /** The longest row; records must already be truncated to it (truncateRecords). */
  seqLen: number
  /** 'padding' (one record per row, the default) or 'packing' (several per seqLen window). */
  mode?: BatchMode
  /** Padding only: pad each batch to its longest record (the default) or always to seqLen (fixed shapes). */
  padTo?: 'longest' | 'seqLen'
  /** The id written into padding; it cannot change the result (see above). Default 0. */
  padTokenId?: number
  /** Shuffle per epoch (the default) or keep file order. */
  shuffle?: boolean
  /**
   * Fill the last batch by wrapping around to the first items (the default:
   * every batch has batchSize rows), or let it be short. Evaluation wants
   * false, so that no record counts twice.
   */
  wrap?: boolean
}

export interface Batch {
  /** Position of the batch in its epoch. */
  index: number
  rows: number
  /** Tokens per row (the padded length). */
  length: number
  /** rows × length ids, row-major. */
  inputIds: Int32Array
  /** rows × length labels, aligned with inputIds (unshifted), IGNORE_INDEX on prompts and padding. */
  labels: Int32Array
  /** Real tokens of each row; the rest of the row is padding. */
  lengths: number[]
  /** The item of each row: a record index (padding) or a window index (packing). */
  items: number[]
  /** Positions predicting a label after the shift (labels[t] ≠ IGNORE_INDEX, t ≥ 1): what a mean loss divides by. */
  targets: number
}

export interface BatchPlan {
  readonly mode: BatchMode
  readonly batchSize: number
  readonly seqLen: number
  /** How many items an epoch cycles through: records (padding) or windows (packing). */
  readonly itemCount: number
  readonly batchesPerEpoch: number
  /** Packing: the records of each window, in order. Padding: one record per item. */
  readonly itemRecords: readonly (readonly number[])[]
  /** The items of batch `index` in the epoch shuffled by epochSeed (ignored without shuffling). */
  itemsOf(epochSeed: number, index: number): number[]
  batch(epochSeed: number, index: number): Batch
  /** The epoch's batches from `position` on: resuming at batch k gives what iterating from 0 gives after k. */
  batches(epochSeed: number, position?: number): Generator<Batch, void, undefined>
}

export function makeBatches(records: readonly TokenizedRecord[], options: BatchOptions): BatchPlan {
  const { batchSize, seqLen, mode = 'padding', padTo = 'longest', padTokenId = 0, shuffle = true, wrap = true } = options
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a whole number ≥ 1, got ${batchSize}`)
  if (!Number.isInteger(seqLen) || seqLen < 1) throw new RangeError(`seqLen must be a whole number ≥ 1, got ${seqLen}`)
  if (records.length === 0) throw new RangeError('no records to batch')
  records.forEach((r, i) => {
    if (r.inputIds.length > seqLen) {
      throw new RangeError(`record ${i} has ${r.inputIds.length} tokens, more than seqLen ${seqLen}: truncate the records first`)
    }
    if (r.labels.length !== r.inputIds.length) throw new RangeError(`record ${i} has ${r.labels.length} labels for ${r.inputIds.length} ids`)
  })

  const itemRecords = mode === 'packing' ? packRecords(records, seqLen) : records.map((_, i) => [i])
  const itemCount = itemRecords.length
  const batchesPerEpoch = Math.ceil(itemCount / batchSize)

  // One permutation per epoch, computed once however the epoch is read.
  let cached: { seed: number; order: number[] } | undefined
  const orderFor = (seed: number): number[] | undefined => {
    if (!shuffle) return undefined
    if (cached?.seed !== seed) cached = { seed, order: permutation(itemCount, seed) }
    return cached.order
  }

  const itemsOf = (seed: number, index: number): number[] => {
    if (!Number.isInteger(index) || index < 0 || index >= batchesPerEpoch) {
      throw new RangeError(`batch ${index} is outside the epoch (0 … ${batchesPerEpoch - 1})`)
    }
    const order = orderFor(seed)
    const rows = wrap ? batchSize : Math.min(batchSize, itemCount - index * batchSize)
    return Array.from({ length: rows }, (_, j) => {
      const slot = (index * batchSize + j) % itemCount
      return order === undefined ? slot : order[slot]!
    })
  }

  const batch = (seed: number, index: number): Batch => {
    const rowItems = itemsOf(seed, index)
    const rows = rowItems.map((item) => itemRecords[item]!.map((r) => records[r]!))
    const lengths = rows.map((parts) => parts.reduce((sum, r) => sum + r.inputIds.length, 0))
    const length = mode === 'packing' || padTo === 'seqLen' ? seqLen : Math.max(...lengths)
    const inputIds = new Int32Array(rows.length * length).fill(padTokenId)
    const labels = new Int32Array(rows.length * length).fill(IGNORE_INDEX)
    let targets = 0
    rows.forEach((parts, row) => {
      let at = row * length
      for (const record of parts) {
        inputIds.set(record.inputIds, at)
        labels.set(record.labels, at)
        at += record.inputIds.length
      }
      for (let t = row * length + 1; t < at; t++) if (labels[t] !== IGNORE_INDEX) targets++
    })
    return { index, rows: rows.length, length, inputIds, labels, lengths, items: rowItems, targets }
  }

  return {
    mode,
    batchSize,
    seqLen,
    itemCount,
    batchesPerEpoch,
    itemRecords,
    itemsOf,
    batch,
    *batches(seed, position = 0) {
      if (!Number.isInteger(position) || position < 0 || position > batchesPerEpoch) {
        throw new RangeError(`position ${position} is outside the epoch (0 … ${batchesPerEpoch})`)
      }
      for (let index = position; index < batchesPerEpoch; index++) yield batch(seed, index)
    },
  }
}

/**
 * Whole records, in order, into windows of at most seqLen tokens: a record
 * that does not fit in what is left of the current window starts the next.
 */
export function packRecords(records: readonly TokenizedRecord[], seqLen: number): number[][] {
  const windows: number[][] = []
  let current: number[] = []
  let used = 0
  records.forEach((record, i) => {
    const n = record.inputIds.length
    if (n > seqLen) throw new RangeError(`record ${i} has ${n} tokens, more than seqLen ${seqLen}: truncate the records first`)
    if (used + n > seqLen && current.length > 0) {
      windows.push(current)
      current = []
      used = 0
    }
    current.push(i)
    used += n
  })
  if (current.length > 0) windows.push(current)
  return windows
}
