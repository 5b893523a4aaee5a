/**
 * Decoding modes beside a fixed exit: 'exact' (self-speculative decoding,
 * the full model's tokens, speculative.ts) and 'auto' (per token, the first
 * confident exit, generate.ts). The API contract's DecodingMode is checked
 * equal to this type in services/engine-types.ts.
 */
export type DecodingMode = 'exact' | 'auto'

/** Auto's threshold when none is given: a head at least this sure of its top token stops there. */
export const DEFAULT_AUTO_TAU = 0.5

/** The modes a model of `numLayers` layers can decode in: both need an exit below the full depth. */
export function decodingModesFor(numLayers: number): DecodingMode[] {
  return numLayers >= 2 ? ['exact', 'auto'] : []
}
