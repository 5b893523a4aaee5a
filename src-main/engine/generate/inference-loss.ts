/**
 * Per-exit mean token loss through the inference graphs (the ones
 * generation runs, in whatever weight precision they were loaded), so the
 * quality an int8 or int4 model loses can be measured the way training's
 * validation loss is: Σ cross-entropy over response tokens ÷ their number.
 * The training graph computes the same figure in fp32 only (Trainer.evaluate);
 * the two agree in fp32 (tests/unit/engine/generate/inference-loss.test.ts).
 *
 * One full pass per record, no KV cache: each exit's logits are read off
 * the same pass as the hidden state goes deeper.
 */
import type { TokenizedRecord } from '../data/tokenize'
import { ropeTables } from '../model/rope'
import type { DynamicDepthRuntime } from './runtime'

/** Training's label for a token that is not scored (the prompt's). */
const IGNORED = -100

export interface ExitLosses {
  /** Mean token loss per exit (keys are the exits). */
  loss: Record<string, number>
  /** exp(loss) per exit. */
  perplexity: Record<string, number>
  /** How many response tokens were scored. */
  tokens: number
}

/** A dataset with nothing to score: no record has a response token after its first position. */
export class NoScoredTokensError extends Error {
  constructor() {
    super('the dataset has no response tokens to score')
    this.name = 'NoScoredTokensError'
  }
}

/** −log softmax(logits[row])[target], computed in float64. */
function crossEntropy(logits: Float32Array, vocabSize: number, row: number, target: number): number {
  const start = row * vocabSize
  let max = -Infinity
  for (let v = 0; v < vocabSize; v++) max = Math.max(max, logits[start + v]!)
  let sum = 0
  for (let v = 0; v < vocabSize; v++) sum += Math.exp(logits[start + v]! - max)
  return Math.log(sum) + max - logits[start + target]!
}

/**
 * The LM head's rows are independent, so only the positions that predict a
 * scored token go through it, HEAD_ROWS at a time: a long prompt costs no
 * head work, and the logits held at once stay HEAD_ROWS × vocabulary.
 */
const HEAD_ROWS = 64

/** Σ cross-entropy of the tokens at `targets`, each predicted by the hidden state one position before it. */
async function scoredLoss(runtime: DynamicDepthRuntime, hidden: Float32Array, targets: readonly number[], labels: readonly number[]): Promise<number> {
  const { hiddenSize: d, vocabSize } = runtime.config
  let sum = 0
  for (let start = 0; start < targets.length; start += HEAD_ROWS) {
    const chunk = targets.slice(start, start + HEAD_ROWS)
    const rows = new Float32Array(chunk.length * d)
    chunk.forEach((t, i) => rows.set(hidden.subarray((t - 1) * d, t * d), i * d))
    const logits = await runtime.head(rows)
    chunk.forEach((t, i) => (sum += crossEntropy(logits, vocabSize, i, labels[t]!)))
  }
  return sum
}

/**
 * Mean response-token loss at each of `exits` (layer counts, 1..L) over
 * `records`: position t − 1 predicts token t, and tokens labelled −100 (the
 * prompt) are not scored, as in training. `onRecord` reports progress.
 */
export async function inferenceLoss(
  runtime: DynamicDepthRuntime,
  records: readonly TokenizedRecord[],
  exits: readonly number[],
  onRecord?: (done: number, total: number) => void,
): Promise<ExitLosses> {
  const { config } = runtime
  const wanted = new Set(exits)
  const deepest = Math.max(...exits)
  if (exits.length === 0 || exits.some((e) => !Number.isInteger(e) || e < 1 || e > runtime.numLayers)) {
    throw new RangeError(`exits must be layer counts in 1..${runtime.numLayers} (got ${exits.join(', ')})`)
  }
  const sums = new Map<number, number>(exits.map((e) => [e, 0]))
  let scored = 0
  for (const [index, { inputIds, labels }] of records.entries()) {
    const n = inputIds.length
    const targets: number[] = []
    for (let t = 1; t < n; t++) if (labels[t]! !== IGNORED) targets.push(t)
    if (targets.length > 0) {
      const { cos, sin } = ropeTables(config, 0, n)
      const empty = runtime.emptyCache()
      let hidden = await runtime.embed(inputIds)
      for (let layer = 0; layer < deepest; layer++) {
        hidden = (await runtime.layer(layer, hidden, empty, empty, cos, sin)).hidden
        if (!wanted.has(layer + 1)) continue
        sums.set(layer + 1, sums.get(layer + 1)! + (await scoredLoss(runtime, hidden, targets, labels)))
      }
      scored += targets.length
    }
    onRecord?.(index + 1, records.length)
  }
  if (scored === 0) throw new NoScoredTokensError()
  const loss: Record<string, number> = {}
  const perplexity: Record<string, number> = {}
  for (const e of [...exits].sort((a, b) => a - b)) {
    loss[e] = sums.get(e)! / scored
    perplexity[e] = Math.exp(loss[e]!)
  }
  return { loss, perplexity, tokens: scored }
}
