/**
 * Exits as the strip shows them (a set of layer counts) and as a tune
 * request names them (engine/train/exits.ts: 'all' or '2,4,6'). The full
 * model is always an exit: every mode trains it.
 */
export type ExitPreset = 'all' | 'every-2' | 'last'

export function presetExits(preset: ExitPreset, numLayers: number): number[] {
  if (preset === 'all') return Array.from({ length: numLayers }, (_, i) => i + 1)
  if (preset === 'last') return [numLayers]
  const every: number[] = []
  for (let e = 2; e < numLayers; e += 2) every.push(e)
  return [...every, numLayers]
}

/** Ascending, unique, within 1..numLayers, always with numLayers. */
export function normalizeExits(exits: readonly number[], numLayers: number): number[] {
  return [...new Set([...exits.filter((e) => Number.isInteger(e) && e >= 1 && e <= numLayers), numLayers])].sort((a, b) => a - b)
}

export function exitSpec(exits: readonly number[], numLayers: number): string {
  const chosen = normalizeExits(exits, numLayers)
  return chosen.length === numLayers ? 'all' : chosen.join(',')
}

/** A cell toggled; the full model cannot be turned off. */
export function toggleExit(exits: readonly number[], exit: number, numLayers: number): number[] {
  if (exit === numLayers) return normalizeExits(exits, numLayers)
  return normalizeExits(exits.includes(exit) ? exits.filter((e) => e !== exit) : [...exits, exit], numLayers)
}
