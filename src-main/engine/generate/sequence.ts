/**
 * One growing token sequence at a changeable depth, with exact catch-up.
 *
 * For every layer the KV cache covers a prefix of the positions
 * (`cached[l]`). A position that stopped at a shallow exit keeps its hidden
 * state there (`frontier`). When a token needs layer l, every position not
 * yet in layer l's cache is run through it in ONE batched pass, starting
 * from its frontier state — layer by layer, so each pass attends to a
 * complete cache. The result equals running the deeper sub-model from the
 * start (up to floating-point summation order).
 *
 * A pass covers at most CHUNK positions: a longer prompt (or catch-up) runs
 * as several passes, each attending to the cache the previous ones left.
 * Attention holds a score for every (new position, cached position) pair,
 * so one pass over the whole prompt costs memory in the square of its length
 * (2,000 tokens on the 8-layer bundled model: 3.6 GB); in chunks it is
 * CHUNK × length. The sequence never grows past the model's context.
 */
import { tensor, type ort } from '../onnx/session'
import { inverseFrequencies, ropeTables } from '../model/rope'
import { checkTokenIds, contextLength, contextPhrase, PromptError } from './context'
import type { DynamicDepthRuntime } from './runtime'

/** Positions one layer pass takes at most. */
export const CHUNK = 256

export interface AdvanceResult {
  /** Logits [count, vocab] of the last `count` positions (advance's `logitsFor`), at the exit used. */
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

  get numLayers(): number {
    return this.runtime.numLayers
  }

  get length(): number {
    return this.tokens.length
  }

  /** How many positions layer `l` has cached (for tests and diagnostics). */
  cachedAt(layer: number): number {
    return this.cached[layer]!
  }

  /**
   * Forgets every position from `length` on, in every layer's KV cache too,
   * as if they had never been run: a rejected speculative draft leaves no trace.
   */
  truncate(length: number): void {
    if (!Number.isInteger(length) || length < 0 || length > this.tokens.length) throw new Error(`cannot truncate a ${this.tokens.length}-token sequence to ${length}`)
    for (let p = length; p < this.tokens.length; p++) this.frontier.delete(p)
    this.tokens.length = length
    this.kv.forEach((cache, l) => {
      if (this.cached[l]! <= length) return
      this.kv[l] = { k: keepPositions(cache.k, length), v: keepPositions(cache.v, length) }
      this.cached[l] = length
    })
  }

  /**
   * Appends `ids` and runs them (and any positions deeper layers have not
   * seen) through layers 1..exit, then the head on the last `logitsFor`
   * positions (default 1). Those positions must all be new to layer `exit`:
   * a speculative verification asks for every drafted position at once.
   */
  async advance(ids: readonly number[], exit: number, logitsFor = 1): Promise<AdvanceResult> {
    if (ids.length === 0) throw new Error('advance needs at least one token')
    return this.run(ids, exit, logitsFor)
  }

  /**
   * Takes the last position on to layers 1..exit (with any positions those
   * layers have not seen) and gives its logits there: Auto's next exit up,
   * after a shallower head was not confident. It must not have been there yet.
   */
  async deepen(exit: number): Promise<AdvanceResult> {
    if (this.tokens.length === 0) throw new Error('deepen needs a sequence with at least one token')
    return this.run([], exit, 1)
  }

  private async run(ids: readonly number[], exit: number, logitsFor: number): Promise<AdvanceResult> {
    const { runtime } = this
    const L = runtime.numLayers
    if (!Number.isInteger(exit) || exit < 1 || exit > L) throw new Error(`exit ${exit} is outside 1..${L}`)
    checkTokenIds(ids, runtime.config.vocabSize)
    const context = contextLength(runtime.config)
    if (this.tokens.length + ids.length > context) {
      throw new PromptError(`the sequence would be ${this.tokens.length + ids.length} tokens, but ${contextPhrase(context)}`)
    }
    const d = runtime.config.hiddenSize
    const start = this.tokens.length
    const embedded = ids.length ? await runtime.embed(ids) : new Float32Array(0)
    ids.forEach((id, i) => {
      this.tokens.push(id)
      this.frontier.set(start + i, embedded.subarray(i * d, (i + 1) * d))
    })
    const end = this.tokens.length
    const firstLogit = end - logitsFor
    if (!Number.isInteger(logitsFor) || logitsFor < 1 || firstLogit < this.cached[exit - 1]!) {
      this.truncate(start)
      throw new Error(`logits for ${logitsFor} positions: only positions that layer ${exit} has not run can get them`)
    }
    const top = new Float32Array(logitsFor * d)
    let caughtUp = 0
    for (let l = 0; l < exit; l++) {
      // Positions not counted as new: the new ids, or (deepen) the last position.
      caughtUp += Math.max(0, end - this.cached[l]! - Math.max(1, ids.length))
      for (let from = this.cached[l]!; from < end; from = this.cached[l]!) {
        const count = Math.min(CHUNK, end - from)
        const input = new Float32Array(count * d)
        for (let p = from; p < from + count; p++) input.set(this.frontier.get(p)!, (p - from) * d)
        const { cos, sin } = ropeTables(runtime.config, from, count, this.inv)
        const out = await runtime.layer(l, input, this.kv[l]!.k, this.kv[l]!.v, cos, sin)
        this.kv[l] = { k: out.presentK, v: out.presentV }
        this.cached[l] = from + count
        for (let p = from; p < from + count; p++) {
          // A position that has been through every layer is never run again.
          if (l === L - 1) this.frontier.delete(p)
          else this.frontier.set(p, out.hidden.subarray((p - from) * d, (p - from + 1) * d))
        }
        if (l === exit - 1) {
          for (let p = Math.max(from, firstLogit); p < from + count; p++) top.set(out.hidden.subarray((p - from) * d, (p - from + 1) * d), (p - firstLogit) * d)
          if (from + count === end) return { logits: await runtime.head(top), caughtUp }
        }
      }
    }
    throw new Error('unreachable')
  }
}

/** The first `length` positions of a KV cache [1, heads, n, D]. */
function keepPositions(cache: ort.Tensor, length: number): ort.Tensor {
  const [, heads, n, D] = cache.dims as [number, number, number, number]
  const data = cache.data as Float32Array
  const kept = new Float32Array(heads * length * D)
  for (let h = 0; h < heads; h++) kept.set(data.subarray(h * n * D, (h * n + length) * D), h * length * D)
  return tensor('float32', kept, [1, heads, length, D])
}
