/** The trainer tests' data: fixed token rows, batched in file order, every target after the first counted. */
import type { BatchSource } from '../../../../src-main/engine/train/trainer'

/** 8 rows of `seqLen` token ids below 16, different in each row. */
export function tinyRecords(seqLen: number): number[][] {
  return Array.from({ length: 8 }, (_, r) => Array.from({ length: seqLen }, (_, t) => (r * 3 + t * (r % 3 + 1)) % 16))
}

/** Batch `index` is rows index·B … index·B+B−1; the first position of each row is not a target (−100). */
export function recordSource(records: number[][], batchSize: number): BatchSource {
  return {
    batchesPerEpoch: records.length / batchSize,
    batch: (_epoch, index) => {
      const rows = records.slice(index * batchSize, index * batchSize + batchSize)
      return {
        inputIds: BigInt64Array.from(rows.flat().map(BigInt)),
        labels: BigInt64Array.from(rows.flatMap((row) => row.map((id, t) => (t === 0 ? -100 : id))).map(BigInt)),
      }
    },
  }
}
