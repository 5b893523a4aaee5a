/**
 * The weights and decoding mode a recorded answer was made in, read back
 * from the decoding it was stored with (engine/judge/contender.ts's
 * answerVariant writes it, in the CLI and in the app alike). Results and
 * human review use it to tell an int4 or Exact answer from the fp32 one at
 * the same exit.
 */
import type { ContenderMode, WeightPrecision } from '../../api/contract'
import { variantOfDecoding } from '../../engine/judge/contender'
import type { JsonObject } from '../../store'

export interface AnswerVariant {
  precision: WeightPrecision
  /** int8/int4 answers made at a block size other than the default. */
  blockSize?: number
  /** null: answered at its exit. */
  mode: ContenderMode | null
}

/** The answer length and greedy flag every batch decoding starts with; what is left over is the variant. */
function baseOf(decoding: JsonObject): JsonObject {
  const base: JsonObject = {}
  for (const key of ['maxNewTokens', 'greedy']) if (key in decoding) base[key] = decoding[key]!
  return base
}

/** A decoding this code does not know reads as fp32 at its exit; callers that must not pool it also key on the whole decoding. */
export function answerVariantOf(decoding: JsonObject): AnswerVariant {
  const variant = variantOfDecoding(decoding, baseOf(decoding))
  return {
    precision: variant?.precision ?? 'fp32',
    ...(variant?.blockSize !== undefined ? { blockSize: variant.blockSize } : {}),
    mode: variant?.mode ?? null,
  }
}

/**
 * Whether an answer was made with an adapter merged in (`sorted eval
 * --adapter`, engine/judge/contender.ts answerVariant). The app neither runs
 * nor names adapter contenders, so its results and human review leave these
 * answers out rather than show them as the base model's.
 */
export function isAdapterAnswer(decoding: JsonObject): boolean {
  return 'adapter' in decoding
}

/** Whether two variants name the same weights and mode. */
export function sameVariant(x: AnswerVariant, y: AnswerVariant): boolean {
  return JSON.stringify([x.precision, x.blockSize ?? null, x.mode]) === JSON.stringify([y.precision, y.blockSize ?? null, y.mode])
}
