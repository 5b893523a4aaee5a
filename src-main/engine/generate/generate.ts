/**
 * Generation at a budget that may change between any two tokens: prefill the
 * prompt, then one token at a time, each at the exit `exitAt(index)` names.
 */
import { createSampler, type SamplingOptions } from './sampling'
import type { DynamicSequence } from './sequence'

export interface Detokenizer {
  /** Text that token `id` adds (may be '' until a character is complete). */
  push(id: number): string
  flush(): string
}

export interface GeneratedToken {
  id: number
  /** 0-based index among the new tokens. */
  index: number
  /** The exit (layer count) that produced it. */
  exit: number
  /** Text it added, when a detokenizer is given. */
  text: string
}

export interface GenerateOptions {
  /** The sequence to continue (a fresh one for a new prompt). */
  sequence: DynamicSequence
  prompt: readonly number[]
  maxNewTokens: number
  /** The exit for new token `index`; read before each token, so it may change mid-answer. */
  exitAt: (index: number) => number
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
  /** Positions re-run by deeper layers after the budget went up. */
  caughtUp: number
}

export async function generate(options: GenerateOptions): Promise<GenerateResult> {
  const { sequence, prompt, maxNewTokens, exitAt, detokenizer, signal } = options
  if (prompt.length === 0) throw new Error('the prompt has no tokens')
  const sample = createSampler(options.sampling)
  const eos = new Set(options.eosTokenIds ?? [])
  const stops = options.stopStrings ?? []
  const tokens: number[] = []
  const exits: number[] = []
  let text = ''
  let caughtUp = 0
  let finishReason: FinishReason = 'length'

  const t0 = performance.now()
  let pending: readonly number[] = prompt
  let prefillMs = 0
  for (let index = 0; index < maxNewTokens; index++) {
    if (signal?.aborted) {
      finishReason = 'cancelled'
      break
    }
    const exit = exitAt(index)
    const step = await sequence.advance(pending, exit)
    caughtUp += step.caughtUp
    if (index === 0) prefillMs = performance.now() - t0
    const id = sample(step.logits, sequence.tokens)
    tokens.push(id)
    exits.push(exit)
    pending = [id]
    if (eos.has(id)) {
      finishReason = 'eos'
      break
    }
    const piece = detokenizer ? detokenizer.push(id) : ''
    text += piece
    const stop = stops.find((s) => text.includes(s))
    options.onToken?.({ id, index, exit, text: stop ? '' : piece })
    if (stop) {
      text = text.slice(0, text.indexOf(stop))
      finishReason = 'stop'
      break
    }
  }
  if (finishReason === 'length' || finishReason === 'cancelled') text += detokenizer?.flush() ?? ''
  return { tokens, exits, text, finishReason, prefillMs, decodeMs: performance.now() - t0 - prefillMs, caughtUp }
}
