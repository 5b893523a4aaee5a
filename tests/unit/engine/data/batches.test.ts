import { describe, expect, it } from 'vitest'
import { epochSeed, makeBatches, mulberry32, packRecords, permutation, splitDataset } from '../../../../src-main/engine/data'
import type { Batch } from '../../../../src-main/engine/data'
import { tokens } from './fixtures'

/** Record i: ids 100i+1 … 100i+length, the first id a masked prompt. */
const record = (i: number, length: number) => tokens(Array.from({ length }, (_, t) => 100 * i + t + 1), 1)
const records = (lengths: number[]) => lengths.map((length, i) => record(i, length))

const rowsOf = (batch: Batch): number[][] =>
  Array.from({ length: batch.rows }, (_, r) => [...batch.inputIds.subarray(r * batch.length, (r + 1) * batch.length)])
const labelRowsOf = (batch: Batch): number[][] =>
  Array.from({ length: batch.rows }, (_, r) => [...batch.labels.subarray(r * batch.length, (r + 1) * batch.length)])

describe('padding', () => {
  it('pads on the right to the longest record of the batch, with ignored labels', () => {
    const plan = makeBatches(records([3, 5, 2]), { batchSize: 3, seqLen: 8, shuffle: false, padTokenId: 0 })
    const batch = plan.batch(0, 0)
    expect([batch.rows, batch.length]).toEqual([3, 5])
    expect(rowsOf(batch)).toEqual([
      [1, 2, 3, 0, 0],
      [101, 102, 103, 104, 105],
      [201, 202, 0, 0, 0],
    ])
    expect(labelRowsOf(batch)).toEqual([
      [-100, 2, 3, -100, -100],
      [-100, 102, 103, 104, 105],
      [-100, 202, -100, -100, -100],
    ])
    expect(batch.lengths).toEqual([3, 5, 2])
    expect(batch.targets).toBe(2 + 4 + 1)
  })

  it('pads to seqLen for fixed shapes, with the pad id asked for', () => {
    const batch = makeBatches(records([3, 2]), { batchSize: 2, seqLen: 6, padTo: 'seqLen', padTokenId: 9, shuffle: false }).batch(0, 0)
    expect([batch.rows, batch.length, batch.inputIds.length]).toEqual([2, 6, 12])
    expect(rowsOf(batch)).toEqual([
      [1, 2, 3, 9, 9, 9],
      [101, 102, 9, 9, 9, 9],
    ])
  })

  it('refuses records longer than seqLen: they must be truncated first', () => {
    expect(() => makeBatches(records([5]), { batchSize: 1, seqLen: 4 })).toThrow(/truncate/)
  })
})

describe('packing', () => {
  it('concatenates whole records into seqLen windows, padding what is left of each', () => {
    const data = records([3, 4, 2, 5])
    expect(packRecords(data, 8)).toEqual([[0, 1], [2, 3]])
    const plan = makeBatches(data, { batchSize: 2, seqLen: 8, mode: 'packing', shuffle: false })
    expect([plan.itemCount, plan.batchesPerEpoch]).toEqual([2, 1])
    const batch = plan.batch(0, 0)
    expect([batch.rows, batch.length]).toEqual([2, 8])
    expect(rowsOf(batch)).toEqual([
      [1, 2, 3, 101, 102, 103, 104, 0],
      [201, 202, 301, 302, 303, 304, 305, 0],
    ])
    // Each record's own prompt stays masked, so nothing learns across a boundary.
    expect(labelRowsOf(batch)).toEqual([
      [-100, 2, 3, -100, 102, 103, 104, -100],
      [-100, 202, -100, 302, 303, 304, 305, -100],
    ])
    expect(batch.lengths).toEqual([7, 7])
  })
})

describe('batch order', () => {
  it('without shuffling, batch s holds records s·B … s·B+B−1, wrapping around the end', () => {
    const plan = makeBatches(records([2, 2, 2, 2, 2]), { batchSize: 2, seqLen: 4, shuffle: false })
    expect(plan.batchesPerEpoch).toBe(3)
    expect([0, 1, 2].map((s) => plan.batch(123, s).items)).toEqual([
      [0, 1],
      [2, 3],
      [4, 0],
    ])
    // A batch larger than the dataset wraps more than once.
    const small = makeBatches(records([2, 2]), { batchSize: 5, seqLen: 4, shuffle: false })
    expect(small.batch(0, 0).items).toEqual([0, 1, 0, 1, 0])
  })

  it('without wrapping, the last batch is short and no record counts twice', () => {
    const plan = makeBatches(records([2, 2, 2, 2, 2]), { batchSize: 2, seqLen: 4, shuffle: false, wrap: false })
    expect([...plan.batches(0)].map((b) => b.items)).toEqual([[0, 1], [2, 3], [4]])
  })

  it('shuffles by the epoch seed: the same seed gives the same order, another seed another', () => {
    const data = records(Array.from({ length: 20 }, () => 2))
    const plan = makeBatches(data, { batchSize: 4, seqLen: 2 })
    const order = (seed: number) => [...plan.batches(seed)].flatMap((b) => b.items)
    expect(order(7)).toEqual(order(7))
    expect(order(7)).not.toEqual(order(8))
    expect([...order(7)].sort((a, b) => a - b)).toEqual(data.map((_, i) => i)) // each record once
  })

  it('resumes at position k with the batches that iterating from 0 gives after k', () => {
    const plan = makeBatches(records([1, 2, 3, 4, 5, 6, 7].map((n) => n + 1)), { batchSize: 3, seqLen: 8 })
    const seed = epochSeed(42, 3)
    const all = [...plan.batches(seed)]
    expect(all).toHaveLength(3)
    for (let k = 0; k <= all.length; k++) {
      // A fresh plan, as after a restart from a checkpoint.
      const resumed = makeBatches(records([1, 2, 3, 4, 5, 6, 7].map((n) => n + 1)), { batchSize: 3, seqLen: 8 })
      expect([...resumed.batches(seed, k)]).toEqual(all.slice(k))
    }
    expect(() => [...plan.batches(seed, 4)]).toThrow(RangeError)
  })
})

describe('train/validation split', () => {
  const data = Array.from({ length: 40 }, (_, i) => i)

  it('holds out the same records for the same seed, in file order', () => {
    const a = splitDataset(data, { valFraction: 0.25, seed: 1 })
    expect(a).toEqual(splitDataset(data, { valFraction: 0.25, seed: 1 }))
    expect(a.validation).toHaveLength(10)
    expect(a.train).toHaveLength(30)
    expect([...a.train, ...a.validation].sort((x, y) => x - y)).toEqual(data)
    expect(a.validation).toEqual([...a.validation].sort((x, y) => x - y))
  })

  it('holds out other records for another seed', () => {
    expect(splitDataset(data, { valFraction: 0.25, seed: 2 }).validation).not.toEqual(
      splitDataset(data, { valFraction: 0.25, seed: 1 }).validation,
    )
  })

  it('holds out at least one record, never all, and none for a fraction of 0', () => {
    expect(splitDataset([1, 2, 3], { valFraction: 0.01, seed: 0 }).validation).toHaveLength(1)
    expect(splitDataset([1, 2], { valFraction: 0.9, seed: 0 }).train).toHaveLength(1)
    expect(splitDataset([1, 2], { valFraction: 0, seed: 0 })).toEqual({ train: [1, 2], validation: [] })
    expect(() => splitDataset([1], { valFraction: 0.5, seed: 0 })).toThrow(RangeError)
  })
})

describe('seeded randomness', () => {
  it('is mulberry32: its first outputs for seed 0 are those of the reference C code', () => {
    const random = mulberry32(0)
    const first = [random(), random(), random()].map((x) => Math.round(x * 4294967296))
    expect(first).toEqual([1144304738, 1416247, 958946056])
  })

  it('shuffles into a permutation, the same for the same seed', () => {
    expect(permutation(10, 5)).toEqual(permutation(10, 5))
    expect([...permutation(10, 5)].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    expect(epochSeed(1, 0)).not.toBe(epochSeed(1, 1))
  })
})
