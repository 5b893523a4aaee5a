/**
 * A contender: a model folder answering at one of its exits. The contract's
 * `Contender` schema (requests of evaluations and compare) is checked equal
 * to this type in services/engine-types.ts; a contender as stored (a
 * registered model's id at an exit) is the store's `StoredContender`.
 *
 * A contender may run in a decoding mode (Exact or Auto) instead of at a
 * fixed exit, in the CLI and in the app alike; only the CLI's `sorted eval`
 * also picks a quantization block size (`ContenderRun`), which stays out of
 * the contract's type.
 */

import type { UserBlockSize } from '../model/weight-format'
import type { WeightPrecision } from '../model/quant/linear'

/**
 * A model folder, optionally cut at an exit (a layer count; no exit means the
 * full model), in a weight precision (default fp32), or decoding in a mode
 * (then without an exit: the mode picks the depth per token).
 */
export interface Contender {
  modelPath: string
  exit?: number | undefined
  precision?: WeightPrecision | undefined
  mode?: ContenderMode | undefined
}

/**
 * How a contender decodes instead of at a fixed exit: Exact (self-speculative
 * decoding: the full model's greedy tokens, drafted at a shallow exit) or
 * Auto (per token, the first of the model's exits whose top token is at
 * least `tau` probable, else the full model).
 */
export type ContenderMode = { kind: 'exact' } | { kind: 'auto'; tau: number }

/** A PEFT LoRA/DyLoRA adapter folder merged into a contender's weights at load, at `rank` (a DyLoRA adapter's nested rank; absent: its r). */
export interface ContenderAdapter {
  path: string
  rank?: number | undefined
}

/**
 * The adapter a contender answered with, as its answers are keyed: the
 * folder (resolved), a SHA-256 of its adapter_config.json and
 * adapter_model.safetensors (so a retrained adapter in the same folder is
 * another contender), the rank merged and the adapter's r.
 */
export interface AdapterIdentity {
  path: string
  sha256: string
  rank: number
  r: number
}

/** A contender as a batch evaluation runs it: also, optionally, a block size for int8/int4 weights and an adapter (the CLI's). */
export interface ContenderRun extends Contender {
  /** With int8/int4 `precision`; absent: the engine's default (32), or a GPTQ/AWQ folder's own. */
  blockSize?: UserBlockSize | undefined
  adapter?: ContenderAdapter | undefined
}

/** A contender with its exit settled (the full model's is its layer count): how answers are found and recorded. */
export interface ContenderAtExit {
  modelPath: string
  /** In Exact and Auto modes: the model's layer count. */
  exit: number
  /** Absent: fp32. */
  precision?: WeightPrecision | undefined
  /** The block size asked for with int8/int4 weights; absent: the default (32), or a GPTQ/AWQ folder's own. */
  blockSize?: number | undefined
  /** Absent: answered at `exit`. */
  mode?: ContenderMode | undefined
  /** Absent: the model's own weights. */
  adapter?: AdapterIdentity | undefined
}

/** The block size int8/int4 weights get when none is asked for (weight-format.ts). */
const DEFAULT_BLOCK_SIZE = 32

/**
 * What sets a contender's answers apart from the fp32 answers at its exit:
 * nothing for those (so they stay what every earlier evaluation recorded),
 * else its weights (`weights`, as the compare view records them) and a block
 * size other than the default, and its mode. Recorded answers are found by
 * this together with the model, the exit and the decoding.
 */
export function answerVariant(contender: ContenderAtExit): Record<string, string | number> {
  const variant: Record<string, string | number> = {}
  if (contender.precision !== undefined && contender.precision !== 'fp32') {
    variant['weights'] = contender.precision
    if (contender.blockSize !== undefined && contender.blockSize !== DEFAULT_BLOCK_SIZE) variant['blockSize'] = contender.blockSize
  }
  if (contender.mode?.kind === 'exact') variant['mode'] = 'exact'
  if (contender.mode?.kind === 'auto') Object.assign(variant, { mode: 'auto', tau: contender.mode.tau })
  // The adapter's content and rank, not only its folder: another adapter (or rank) never reuses these answers.
  if (contender.adapter) Object.assign(variant, { adapter: contender.adapter.path, adapterSha256: contender.adapter.sha256, adapterRank: contender.adapter.rank })
  return variant
}

/**
 * The inverse of answerVariant: the weights, block size and mode a recorded
 * answer's decoding names beside `base` (the evaluation's own decoding).
 * Undefined when the decoding is not `base` plus a variant this code writes
 * (another answer length, or something it does not know), so such an answer
 * is never taken for one of the contenders asked about. An adapter's answers
 * (the CLI's alone) read as undefined too: the app never asks for them.
 */
export function variantOfDecoding(
  decoding: Readonly<Record<string, unknown>>,
  base: Readonly<Record<string, unknown>>,
): Pick<ContenderAtExit, 'precision' | 'blockSize' | 'mode'> | undefined {
  const rest: Record<string, unknown> = { ...decoding }
  for (const [key, value] of Object.entries(base)) {
    if (rest[key] !== value) return undefined
    delete rest[key]
  }
  const { weights, blockSize, mode, tau, ...unknown } = rest
  if (Object.keys(unknown).length > 0) return undefined
  if (weights !== undefined && weights !== 'int8' && weights !== 'int4') return undefined
  if (blockSize !== undefined && (weights === undefined || typeof blockSize !== 'number')) return undefined
  const variant: Pick<ContenderAtExit, 'precision' | 'blockSize' | 'mode'> = {}
  if (weights !== undefined) variant.precision = weights
  if (typeof blockSize === 'number') variant.blockSize = blockSize
  if (mode === 'exact' && tau === undefined) variant.mode = { kind: 'exact' }
  else if (mode === 'auto' && typeof tau === 'number') variant.mode = { kind: 'auto', tau }
  else if (mode !== undefined || tau !== undefined) return undefined
  return variant
}

/** `folder@exit`, `folder@exact`, `folder@auto:0.8`: how a contender is named in output (the form `sorted eval` reads). */
export function contenderLabel(contender: { modelPath: string; exit?: number | undefined; mode?: ContenderMode | undefined }): string {
  const { modelPath, mode, exit } = contender
  if (mode?.kind === 'exact') return `${modelPath}@exact`
  if (mode?.kind === 'auto') return `${modelPath}@auto:${mode.tau}`
  return exit === undefined ? modelPath : `${modelPath}@${exit}`
}
