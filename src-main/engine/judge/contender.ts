/**
 * A contender: a model folder answering at one of its exits. The contract's
 * `Contender` schema (requests of evaluations and compare) is checked equal
 * to this type in services/engine-types.ts; a contender as stored (a
 * registered model's id at an exit) is the store's `StoredContender`.
 */

import type { WeightPrecision } from '../model/quant/linear'

/** A model folder, optionally cut at an exit (a layer count; no exit means the full model), in a weight precision (default fp32). */
export interface Contender {
  modelPath: string
  exit?: number | undefined
  precision?: WeightPrecision | undefined
}

/** A contender with its exit settled (the full model's is its layer count): how answers are found and recorded. */
export interface ContenderAtExit {
  modelPath: string
  exit: number
  /** Absent: fp32. */
  precision?: WeightPrecision | undefined
}
