/**
 * com.microsoft contrib ops, inference only (no gradient rules): use them
 * only in graphs whose provider passed the probe below (see contrib.ts).
 */
import type { Tensor } from '../graph'
import type { OpDef } from '../op'
import type { ContribProbe } from '../contrib'
import { formatShape, sameShape } from '../shape'

const skipRmsNormDef: OpDef<{ eps: number }> = {
  type: 'SkipSimplifiedLayerNormalization',
  domain: 'com.microsoft',
  infer: ([x, skip, gamma]) => {
    if (!sameShape(x!.shape, skip!.shape)) throw new Error(`input ${formatShape(x!.shape)} and skip ${formatShape(skip!.shape)} differ`)
    if (gamma!.shape.length !== 1 || gamma!.shape[0] !== x!.shape[x!.shape.length - 1]) throw new Error(`gamma must be [${x!.shape.at(-1)}]`)
    // Outputs: normalised sum, (mean, inv_std_var: unused), and the sum x + skip itself.
    return [x!, { dtype: 'float32', shape: [] }, { dtype: 'float32', shape: [] }, x!]
  },
  attrs: ({ eps }) => ({ epsilon: { float: eps } }),
}

/**
 * Fused residual add + RMSNorm: returns { normed: rmsNorm(x + skip)·gamma,
 * sum: x + skip } in one kernel (the residual stream of a decoder block).
 */
export function skipRmsNorm(x: Tensor, skip: Tensor, gamma: Tensor, eps: number): { normed: Tensor; sum: Tensor } {
  const [normed, , , sum] = x.graph.apply(skipRmsNormDef, [x, skip, gamma], { eps })
  return { normed: normed!, sum: sum! }
}

export const skipRmsNormProbe: ContribProbe = {
  type: 'SkipSimplifiedLayerNormalization',
  inputs: [
    { name: 'x', dtype: 'float32', shape: [1, 2, 4] },
    { name: 'skip', dtype: 'float32', shape: [1, 2, 4] },
    { name: 'gamma', dtype: 'float32', shape: [4] },
  ],
  build: ([x, skip, gamma]) => skipRmsNorm(x!, skip!, gamma!, 1e-6).normed,
}
