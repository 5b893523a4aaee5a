/**
 * What fits in a model's context window (max_position_embeddings): the
 * prompt and every new token. Attention holds a score for every pair of
 * positions, so memory grows with the square of the sequence: a prompt
 * longer than the context is never run, it is refused (ids, text) or, for a
 * conversation, cut by one rule:
 *
 *   keep every system message and the latest turn (the last user message and
 *   anything after it); then keep as many earlier turns as fit, newest first;
 *   drop the oldest turns. If the system messages and the latest turn alone
 *   leave no room for one new token, refuse, naming the limit.
 *
 * The number of new tokens is then capped at what the context leaves.
 */
import type { ModelConfig } from '../model/types'
import type { ChatMessage } from '../tokenizer/chat-template'

/** A prompt this model cannot take; the message says why and names the limit. */
export class PromptError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'PromptError'
  }
}

/**
 * The longest sequence (prompt and new tokens) the model takes. Linear and
 * dynamic-NTK rope scaling stretch the trained positions by their factor
 * (transformers keeps max_position_embeddings at the trained length for them).
 */
export function contextLength(config: Pick<ModelConfig, 'maxPositionEmbeddings' | 'ropeScaling'>): number {
  const scaling = config.ropeScaling
  const factor = scaling?.type === 'linear' || scaling?.type === 'dynamic' ? Math.max(1, scaling.factor) : 1
  return Math.floor(config.maxPositionEmbeddings * factor)
}

/** The context phrase every refusal uses, so the limit is always named the same way. */
export function contextPhrase(context: number): string {
  return `this model's context is ${context} tokens (from max_position_embeddings in config.json)`
}

/** Refuses ids the embedding has no row for. */
export function checkTokenIds(ids: readonly number[], vocabSize: number): void {
  const bad = ids.find((id) => !Number.isInteger(id) || id < 0 || id >= vocabSize)
  if (bad !== undefined) throw new PromptError(`token id ${bad} is outside this model's vocabulary (0..${vocabSize - 1})`)
}

/** Refuses a prompt of `promptTokens` that leaves no room for one new token. */
export function checkPromptFits(promptTokens: number, context: number): void {
  if (promptTokens + 1 > context) {
    throw new PromptError(`the prompt is ${promptTokens} tokens, but ${contextPhrase(context)} and must leave room for at least one new token`)
  }
}

/** New tokens to generate: what was asked for, at most what the context leaves after the prompt. */
export function newTokenBudget(promptTokens: number, requested: number, context: number): number {
  return Math.max(0, Math.min(requested, context - promptTokens))
}

export interface ConversationMeasure {
  /** Tokens of one message's text alone: a cheap estimate of what it adds. */
  count(text: string): number
  /** The exact prompt ids of a conversation (template applied). */
  encode(messages: readonly ChatMessage[]): number[]
}

export interface FittedConversation {
  ids: number[]
  /** How many of the oldest non-system messages were left out. */
  dropped: number
}

/**
 * The prompt ids of `messages` cut to fit `context` by the rule above. Each
 * message is counted once, newest first, and counting stops at the first turn
 * that does not fit, so a long history costs no more than what is kept; the
 * exact count of the template's output then decides.
 */
export function fitConversation(messages: readonly ChatMessage[], measure: ConversationMeasure, context: number): FittedConversation {
  const budget = context - 1 // room for at least one new token
  // Where a cut may fall: the start, and each user message (a turn begins with the user).
  const cuts = [0, ...messages.flatMap((m, i) => (m.role === 'user' && i > 0 ? [i] : []))]
  const keptFrom = (cut: number) => messages.filter((m, i) => i >= cut || m.role === 'system')
  const countRange = (from: number, to: number) => {
    let tokens = 0
    for (let i = from; i < to; i++) if (messages[i]!.role !== 'system') tokens += measure.count(messages[i]!.content)
    return tokens
  }

  // Estimate from the newest turn backwards.
  let k = cuts.length - 1
  let used = messages.reduce((sum, m) => (m.role === 'system' ? sum + measure.count(m.content) : sum), 0) + countRange(cuts[k]!, messages.length)
  while (k > 0) {
    const earlier = countRange(cuts[k - 1]!, cuts[k]!)
    if (used + earlier > budget) break
    used += earlier
    k--
  }

  // The exact length decides; drop further turns while it is too long.
  let tokens = 0
  for (; k < cuts.length; k++) {
    const kept = keptFrom(cuts[k]!)
    const ids = measure.encode(kept)
    if (ids.length <= budget) return { ids, dropped: messages.length - kept.length }
    tokens = ids.length
  }
  const what = messages.some((m) => m.role === 'system') ? 'the system prompt and the latest message come' : 'the latest message comes'
  throw new PromptError(`${what} to ${tokens} tokens, but ${contextPhrase(context)} and must leave room for the answer: shorten the message`)
}
