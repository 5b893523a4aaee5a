/**
 * Generation at a budget that may change between any two tokens: prefill the
 * prompt, then one token at a time, each at the exit `exitAt(index)` names —
 * or, where it names 'exact', in draft-and-verify rounds (speculative.ts)
 * that produce the full model's tokens several at a time.
 */
import { mulberry32 } from '../data/random'
import { createSampler, type SamplingOptions } from './sampling'
import type { DynamicSequence } from './sequence'
import { DraftThreshold, speculativeRound, topProbability, type SpeculativeOptions } from './speculative'

/**
 * A layer count; 'exact': the full model's tokens, drafted at a shallow exit
 * and verified; or { auto: τ }: per token, the first exit (ascending) whose
 * head is confident — top softmax probability ≥ τ — else the full model.
 */
export type Depth = number | 'exact' | { auto: number }

export interface Detokenizer {
  /** Text that token `id` adds (may be '' until a character is complete). */
  push(id: number): string
  flush(): string
}

export interface GeneratedToken {
  id: number
  /** 0-based index among the new tokens. */
  index: number
  /** The exit (layer count) whose logits chose it: L for every Exact token. */
  exit: number
  /** A shallow draft the full model accepted (Exact mode). */
  drafted: boolean
  /** Text it added, when a detokenizer is given. */
  text: string
}

export interface GenerateOptions {
  /** The sequence to continue (a fresh one for a new prompt). */
  sequence: DynamicSequence
  prompt: readonly number[]
  maxNewTokens: number
  /** The depth for new token `index`; read before each token, so it may change mid-answer. */
  exitAt: (index: number) => Depth
  /** How Exact drafts; needed when exitAt may name 'exact' (else it decodes at full depth). */
  speculative?: SpeculativeOptions
  /** The exits Auto tries, ascending (default every layer count); the full depth is always the last resort. */
  autoExits?: readonly number[]
  sampling?: SamplingOptions
  eosTokenIds?: readonly number[]
  stopStrings?: readonly string[]
  detokenizer?: Detokenizer
  onToken?: (token: GeneratedToken) => void
  signal?: AbortSignal
}

export type FinishReason = 'eos' | 'stop' | 'length' | 'cancelled'

export interface GenerateResult {
  tokens: number[]
  exits: number[]
  text: string
  finishReason: FinishReason
  prefillMs: number
  decodeMs: number
  /** Positions re-run by deeper layers after the budget went up (or to verify drafts). */
  caughtUp: number
  /** Exact mode: tokens drafted at the shallow exit, and how many the full model accepted. */
  drafted: number
  accepted: number
  /** Per token: a draft the full model accepted. */
  draftedTokens: boolean[]
}

export async function generate(options: GenerateOptions): Promise<GenerateResult> {
  const { sequence, prompt, maxNewTokens, exitAt, detokenizer, signal } = options
  if (prompt.length === 0) throw new Error('the prompt has no tokens')
  const L = sequence.numLayers
  const rand = mulberry32(options.sampling?.seed ?? Date.now())
  const sample = createSampler(options.sampling, rand)
  // Greedy drafts are checked by identity with the full model's choice; sampled ones by the speculative-sampling rule.
  const sampling = options.sampling?.temperature ? { options: options.sampling, rand } : undefined
  // A one-layer model has nothing to draft with: its Exact tokens are plain full-depth steps.
  const speculative = L >= 2 ? options.speculative : undefined
  if (speculative && (!Number.isInteger(speculative.draftExit) || speculative.draftExit < 1 || speculative.draftExit >= L)) {
    throw new Error(`draft exit ${speculative.draftExit} is outside 1..${L - 1}`)
  }
  const threshold = new DraftThreshold()
  const autoLadder = [...new Set([...(options.autoExits ?? []).filter((e) => Number.isInteger(e) && e >= 1 && e < L), L])].sort((a, b) => a - b)
  if (!options.autoExits) autoLadder.splice(0, autoLadder.length, ...Array.from({ length: L }, (_, i) => i + 1))
  const eos = new Set(options.eosTokenIds ?? [])
  const stops = options.stopStrings ?? []
  const tokens: number[] = []
  const exits: number[] = []
  const draftedTokens: boolean[] = []
  let text = ''
  let caughtUp = 0
  let drafted = 0
  let accepted = 0
  let finishReason: FinishReason | undefined

  /** Records one new token; returns why generation ends, if it does. */
  const emit = (id: number, exit: number, wasDraft: boolean): FinishReason | undefined => {
    const index = tokens.length
    tokens.push(id)
    exits.push(exit)
    draftedTokens.push(wasDraft)
    if (eos.has(id)) return 'eos'
    const piece = detokenizer ? detokenizer.push(id) : ''
    text += piece
    const stop = stops.find((s) => text.includes(s))
    options.onToken?.({ id, index, exit, drafted: wasDraft, text: stop ? '' : piece })
    if (stop) {
      text = text.slice(0, text.indexOf(stop))
      return 'stop'
    }
    return undefined
  }

  const t0 = performance.now()
  let pending: readonly number[] = prompt
  let prefillMs = 0
  while (finishReason === undefined && tokens.length < maxNewTokens) {
    if (signal?.aborted) {
      finishReason = 'cancelled'
      break
    }
    const first = tokens.length
    const depth = exitAt(first)
    // The prompt runs through every layer once whatever the mode, so the first
    // token is the full model's plain choice: prefill time means the same in every mode.
    if (depth === 'exact' && speculative && first > 0) {
      const round = await speculativeRound({
        sequence,
        pending,
        room: maxNewTokens - first,
        exactAt: (offset) => exitAt(first + offset) === 'exact',
        numLayers: L,
        options: speculative,
        threshold,
        choose: sample,
        ...(sampling ? { sampling } : {}),
        eos,
      })
      caughtUp += round.caughtUp
      drafted += round.drafted
      accepted += round.acceptedCount
      pending = round.pending
      for (const [i, id] of round.tokens.entries()) {
        finishReason = emit(id, L, round.accepted[i]!)
        if (finishReason) break
      }
      continue
    }
    if (typeof depth === 'object') {
      const step = await autoStep(sequence, pending, depth.auto, autoLadder)
      caughtUp += step.caughtUp
      if (first === 0) prefillMs = performance.now() - t0
      const id = sample(step.logits, sequence.tokens)
      pending = [id]
      finishReason = emit(id, step.exit, false)
      continue
    }
    const exit = depth === 'exact' ? L : depth
    const step = await sequence.advance(pending, exit)
    caughtUp += step.caughtUp
    if (first === 0) prefillMs = performance.now() - t0
    const id = sample(step.logits, sequence.tokens)
    pending = [id]
    finishReason = emit(id, exit, false)
  }
  finishReason ??= 'length'
  if (finishReason === 'length' || finishReason === 'cancelled') text += detokenizer?.flush() ?? ''
  return {
    tokens,
    exits,
    text,
    finishReason,
    prefillMs,
    decodeMs: performance.now() - t0 - prefillMs,
    caughtUp,
    drafted,
    accepted,
    draftedTokens,
  }
}

/**
 * Auto's step: run the new tokens to the first exit of `ladder`, then one
 * exit up at a time (sequence.deepen: only the layers in between run) until
 * a head is confident or the full depth is reached.
 */
async function autoStep(sequence: DynamicSequence, pending: readonly number[], tau: number, ladder: readonly number[]): Promise<{ logits: Float32Array; exit: number; caughtUp: number }> {
  let step = await sequence.advance(pending, ladder[0]!)
  let caughtUp = step.caughtUp
  for (let i = 0; ; i++) {
    const exit = ladder[i]!
    if (i === ladder.length - 1 || topProbability(step.logits) >= tau) return { logits: step.logits, exit, caughtUp }
    step = await sequence.deepen(ladder[i + 1]!)
    caughtUp += step.caughtUp
  }
}
