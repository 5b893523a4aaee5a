/**
 * Seeded randomness for data order. The generator is mulberry32 (Tommy
 * Ettinger, public domain): 32 bits of state, one multiply-xorshift round per
 * number. It is not for cryptography, but its streams are uniform enough to
 * order records, and the same seed gives the same order on every machine and
 * in every version, which a resumed run depends on. Do not change it: a
 * checkpoint taken mid-epoch would resume into a different order.
 */

/** Numbers in [0, 1) from a 32-bit seed. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A permutation of 0 … n−1: Fisher–Yates (Durstenfeld), from the last position down. */
export function permutation(n: number, seed: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i)
  const random = mulberry32(seed)
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    const swap = order[i]!
    order[i] = order[j]!
    order[j] = swap
  }
  return order
}

/**
 * The shuffle seed of one epoch of a run: the run's seed and the epoch
 * number hashed together (a murmur3 finalizer), so that consecutive epochs
 * get unrelated orders and a checkpoint's {epoch, batchIndex} is enough to
 * rebuild its order.
 */
export function epochSeed(runSeed: number, epoch: number): number {
  let h = (Math.imul(runSeed >>> 0, 0x9e3779b1) ^ (epoch >>> 0)) >>> 0
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}
