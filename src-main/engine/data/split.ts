/** Train/validation split: the same seed always holds out the same records. */
import { permutation } from './random'

export interface SplitOptions {
  /** Share of the records held out for validation, in [0, 1). */
  valFraction: number
  seed: number
}

export interface Split<T> {
  train: T[]
  validation: T[]
}

/**
 * Holds out round(n · valFraction) records (at least one when valFraction is
 * above 0, and never all of them), chosen by a seeded permutation; both
 * parts keep file order.
 */
export function splitDataset<T>(records: readonly T[], { valFraction, seed }: SplitOptions): Split<T> {
  if (!(valFraction >= 0 && valFraction < 1)) throw new RangeError(`valFraction must be in [0, 1), got ${valFraction}`)
  const n = records.length
  if (valFraction === 0) return { train: [...records], validation: [] }
  if (n < 2) throw new RangeError(`a validation split needs at least 2 records, the dataset has ${n}`)
  const count = Math.min(n - 1, Math.max(1, Math.round(n * valFraction)))
  const heldOut = new Set(permutation(n, seed).slice(0, count))
  const train: T[] = []
  const validation: T[] = []
  records.forEach((record, i) => (heldOut.has(i) ? validation : train).push(record))
  return { train, validation }
}
