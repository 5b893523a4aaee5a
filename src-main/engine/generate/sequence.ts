/**
 * One growing token sequence at a changeable depth, with exact catch-up.
 *
 * For every layer the KV cache covers a prefix of the positions
 * (`cached[l]`). A position that stopped at a shallow exit keeps its hidden
 * state there (`frontier`). When a token needs layer l, every position not
 * yet in layer l's cache is run through it in ONE batched pass, starting
 * from its frontier state — layer by layer, so each pass attends to a
 * complete cache. The result equals running the deeper sub-model from the
 * start (up to floating-point summation order). Lowering the exit costs
 * nothing: deeper caches simply stop growing until they are needed.
 */
import type { ort } from '../onnx/session'
import { inverseFrequencies, ropeTables } from '../model/rope'
import type { DynamicDepthRuntime } from './runtime'

export interface AdvanceResult {
  /** Logits of the last new position, at the exit used. */
  logits: Float32Array
  /** Positions that deeper layers had to catch up on, summed over layers. */
  caughtUp: number
}

export class DynamicSequence {
  readonly tokens: number[] = []
  /** Per layer: the KV cache [1, kvHeads, cached[l], D]. */
  private readonly kv: { k: ort.Tensor; v: ort.Tensor }[]
  private readonly cached: number[]
  /** Hidden state after the last layer a position went through, for positions short of the full depth. */
  private readonly frontier = new Map<number, Float32Array>()
  private readonly inv: Float64Array

  constructor(private readonly runtime: DynamicDepthRuntime) {
    const L = runtime.numLayers
    this.kv = Array.from({ length: L }, () => ({ k: runtime.emptyCache(), v: runtime.emptyCache() }))
    this.cached = new Array<number>(L).fill(0)
    this.inv = inverseFrequencies(runtime.config)
  }

  get length(): number {
    return this.tokens.length
  }

  /** How many positions layer `l` has cached (for tests and diagnostics). */
  cachedAt(layer: number): number {
    return this.cached[layer]!
  }

  /**
   * Appends `ids` and runs them (and any positions deeper layers have not
   * seen) through layers 1..exit, then the head on the last position.
   */
  async advance(ids: readonly number[], exit: number): Promise<AdvanceResult> {
    const { runtime } = this
    const L = runtime.numLayers
    if (!Number.isInteger(exit) || exit < 1 || exit > L) throw new Error(`exit ${exit} is outside 1..${L}`)
    if (ids.length === 0) throw new Error('advance needs at least one token')
    const vocab = runtime.config.vocabSize
    const bad = ids.find((id) => !Number.isInteger(id) || id < 0 || id >= vocab)
    if (bad !== undefined) throw new Error(`token id ${bad} is outside this model's vocabulary (0..${vocab - 1})`)
    const d = runtime.config.hiddenSize
    const start = this.tokens.length
    const embedded = await runtime.embed(ids)
    ids.forEach((id, i) => {
      this.tokens.push(id)
      this.frontier.set(start + i, embedded.subarray(i * d, (i + 1) * d))
    })
    const end = this.tokens.length
    let caughtUp = 0
    for (let l = 0; l < exit; l++) {
      const from = this.cached[l]!
      const count = end - from
      caughtUp += Math.max(0, count - ids.length)
      const input = new Float32Array(count * d)
      for (let p = from; p < end; p++) input.set(this.frontier.get(p)!, (p - from) * d)
      const { cos, sin } = ropeTables(runtime.config, from, count, this.inv)
      const out = await runtime.layer(l, input, this.kv[l]!.k, this.kv[l]!.v, cos, sin)
      this.kv[l] = { k: out.presentK, v: out.presentV }
      this.cached[l] = end
      for (let p = from; p < end; p++) {
        // A position that has been through every layer is never run again.
        if (l === L - 1) this.frontier.delete(p)
        else this.frontier.set(p, out.hidden.subarray((p - from) * d, (p - from + 1) * d))
      }
      if (l === exit - 1) {
        const last = out.hidden.subarray((count - 1) * d, count * d)
        return { logits: await runtime.head(last), caughtUp }
      }
    }
    throw new Error('unreachable')
  }
}
