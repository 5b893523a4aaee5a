/**
 * Self-speculative decoding ("Exact"): draft tokens with the shallow exit E,
 * then verify them with the full model in ONE batched pass through layers
 * E+1..L over the drafted positions — the catch-up path of sequence.ts, which
 * reuses the draft's KV for layers 1..E (LayerSkip's exit cache). The prefix
 * the full model agrees with is kept, plus the full model's own next token;
 * every layer's KV is rolled back past the first rejected position.
 *
 * Greedy: each token is the full model's argmax on the sequence so far, so
 * the output is token-identical to decoding at exit L.
 *
 * Sampling: the speculative-sampling rule (Leviathan et al.; Chen et al.):
 * accept draft x with probability min(1, p(x)/q(x)); on rejection draw from
 * the normalised max(0, p − q); when every draft is accepted, draw one more
 * from p. p and q are shaped by the same temperature/top-k/top-p, so the
 * tokens are distributed exactly as the full model's.
 */
import { drawFrom, tokenDistribution, type Sampler, type SamplingOptions, type TokenDistribution } from './sampling'
import type { DynamicSequence } from './sequence'

/** Draft length: a fixed count, or 'auto' (stop when the draft is unsure, Draft & Verify). */
export type DraftTokens = number | 'auto'

export interface SpeculativeOptions {
  /** The exit that drafts, 1..L-1. */
  draftExit: number
  /** Default 'auto'. */
  draftTokens?: DraftTokens
}

/** The longest draft 'auto' makes (LayerSkip drafts 4–12 tokens; more rarely survive). */
export const MAX_AUTO_DRAFT = 8

/**
 * Draft & Verify's adaptive stop: drafting stops when the draft's top
 * probability falls below a threshold, which rises 0.01 after a round that
 * accepted under 90% of its drafts and falls 0.01 otherwise.
 */
export class DraftThreshold {
  constructor(public value = 0.8) {}

  update(drafted: number, accepted: number): void {
    this.value = Math.min(1, Math.max(0, this.value + (accepted < 0.9 * drafted ? 0.01 : -0.01)))
  }
}

/** The largest softmax probability of `logits` (one row). */
export function topProbability(logits: Float32Array): number {
  let max = -Infinity
  for (const v of logits) if (v > max) max = v
  let total = 0
  for (const v of logits) total += Math.exp(v - max)
  return 1 / total
}

export interface SpeculativeRoundInput {
  sequence: DynamicSequence
  /** Tokens chosen but not yet in the sequence (the prompt, or the last token). */
  pending: readonly number[]
  /** How many more tokens this round may produce (≥ 1). */
  room: number
  /** Whether new token `offset` tokens from now is still wanted in Exact mode. */
  exactAt: (offset: number) => boolean
  numLayers: number
  options: SpeculativeOptions
  threshold: DraftThreshold
  /** Deterministic choice (greedy, perhaps with a repetition penalty); used when `sampling` is absent. */
  choose: Sampler
  /** Sampling at temperature > 0: the shaping of p and q, and the generator every draw uses. */
  sampling?: { options: SamplingOptions; rand: () => number }
  eos: ReadonlySet<number>
}

export interface SpeculativeRound {
  /** New tokens, every one the full model's choice. */
  tokens: number[]
  /** Per token: whether it was a draft the full model accepted. */
  accepted: boolean[]
  drafted: number
  acceptedCount: number
  /** Tokens to feed next (the last token, not yet in the sequence). */
  pending: number[]
  caughtUp: number
}

/** One draft-then-verify round. */
export async function speculativeRound(input: SpeculativeRoundInput): Promise<SpeculativeRound> {
  const { sequence, pending, room, exactAt, numLayers, options, threshold, choose, eos, sampling } = input
  const E = options.draftExit
  const limit = Math.min(room, options.draftTokens === 'auto' || options.draftTokens === undefined ? MAX_AUTO_DRAFT : options.draftTokens)
  const adaptive = options.draftTokens === 'auto' || options.draftTokens === undefined
  const start = sequence.length
  let caughtUp = 0

  // Draft: the last draft is not run at E; the verification runs it through every layer.
  const drafts: number[] = []
  const draftDistributions: TokenDistribution[] = []
  let feed = pending
  while (drafts.length < limit) {
    if (drafts.length > 0 && (!exactAt(drafts.length) || eos.has(drafts.at(-1)!))) break
    const step = await sequence.advance(feed, E)
    caughtUp += step.caughtUp
    let draft: number
    let confidence: number
    if (sampling) {
      const q = tokenDistribution(step.logits, sequence.tokens, sampling.options)
      draft = drawFrom(q, sampling.rand())
      draftDistributions.push(q)
      confidence = q.probs[0]!
    } else {
      draft = choose(step.logits, sequence.tokens)
      confidence = adaptive ? topProbability(step.logits) : 1
    }
    drafts.push(draft)
    feed = [draft]
    // An unsure draft ends the round: it costs nothing extra, since the
    // verification runs one new position anyway, but the next would likely fail.
    if (adaptive && confidence < threshold.value) break
  }

  // Verify: logits of the full model at the last pending position and at every draft.
  const m = drafts.length
  const verified = await sequence.advance(feed, numLayers, m + 1)
  caughtUp += verified.caughtUp
  const vocab = verified.logits.length / (m + 1)
  const base = start + pending.length // sequence index of the first draft
  const logitsAt = (i: number) => verified.logits.subarray(i * vocab, (i + 1) * vocab)
  const historyAt = (i: number) => sequence.tokens.slice(0, base + i)
  const targetAt = (i: number) => (sampling ? drawFrom(tokenDistribution(logitsAt(i), historyAt(i), sampling.options), sampling.rand()) : choose(logitsAt(i), historyAt(i)))
  let j = 0
  let correction: number | undefined
  for (; j < m; j++) {
    if (sampling) {
      const p = tokenDistribution(logitsAt(j), historyAt(j), sampling.options)
      const q = draftDistributions[j]!
      if (sampling.rand() < probabilityOf(p, drafts[j]!) / probabilityOf(q, drafts[j]!)) continue
      correction = drawFrom(residual(p, q), sampling.rand())
      break
    }
    const target = targetAt(j)
    if (target !== drafts[j]) {
      correction = target
      break
    }
  }
  const tokens = drafts.slice(0, j)
  const accepted = tokens.map(() => true)
  // All accepted: the full model's next token comes free, if it is still wanted in Exact mode.
  if (correction === undefined && j < room && exactAt(j) && !eos.has(drafts[j - 1]!)) correction = targetAt(j)
  if (correction !== undefined) {
    tokens.push(correction)
    accepted.push(false)
    sequence.truncate(base + j)
    threshold.update(m, j)
    return { tokens, accepted, drafted: m, acceptedCount: j, pending: [correction], caughtUp }
  }
  // Every draft accepted and no token after them: the last one goes back to pending.
  sequence.truncate(base + j - 1)
  threshold.update(m, j)
  return { tokens, accepted, drafted: m, acceptedCount: j, pending: [drafts[j - 1]!], caughtUp }
}

function probabilityOf(distribution: TokenDistribution, id: number): number {
  const i = distribution.ids.indexOf(id)
  return i < 0 ? 0 : distribution.probs[i]!
}

/** The normalised max(0, p − q): where a rejected draft's replacement is drawn from. */
export function residual(p: TokenDistribution, q: TokenDistribution): TokenDistribution {
  const ids: number[] = []
  const mass: number[] = []
  p.ids.forEach((id, i) => {
    const left = p.probs[i]! - probabilityOf(q, id)
    if (left > 0) {
      ids.push(id)
      mass.push(left)
    }
  })
  const total = mass.reduce((a, b) => a + b, 0)
  // p ≤ q everywhere only when p = q, where no draft is ever rejected; p itself is then the answer.
  if (!(total > 0)) return p
  return { ids, probs: mass.map((x) => x / total) }
}
