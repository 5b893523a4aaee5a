/**
 * Exact and Auto mode in the chat, from plain data (no Vue): the budget
 * slider's positions (one per exit, then Exact and Auto where the engine
 * offers them), and what a stored reply says about its drafts and speed.
 */
import type { DecodingMode, ModelSummary } from '../../../src-main/api/contract'

/** Where the budget stands: a fixed exit, or a decoding mode. */
export type Budget = { exit: number; mode?: undefined } | { mode: DecodingMode; exit?: undefined }

export const MODE_LABELS: Record<DecodingMode, string> = {
  exact: 'Exact',
  auto: 'Auto',
}

export const MODE_DESCRIPTIONS: Record<DecodingMode, string> = {
  exact: 'Exact: the full model’s answer, drafted at a shallow exit and verified',
  auto: 'Auto: each token leaves at the first exit confident enough (τ in chat settings)',
}

/** The slider's positions: the exits ascending, then the modes in the order Exact, Auto. */
export function budgetPositions(exits: readonly number[], modes: readonly DecodingMode[]): Budget[] {
  const offered = (['exact', 'auto'] as const).filter((m) => modes.includes(m))
  return [...exits.map((exit) => ({ exit })), ...offered.map((mode) => ({ mode }))]
}

/** The position of `budget` among `positions`: its mode, else the first exit at or above it (the last when none). */
export function budgetIndex(positions: readonly Budget[], budget: Budget): number {
  if (budget.mode !== undefined) {
    const i = positions.findIndex((p) => p.mode === budget.mode)
    if (i >= 0) return i
  }
  const exits = positions.filter((p) => p.exit !== undefined)
  const exit = budget.exit ?? Infinity
  const i = exits.findIndex((p) => p.exit! >= exit)
  return i < 0 ? Math.max(0, exits.length - 1) : i
}

export interface ReplyAcceptance {
  drafted: number
  accepted: number
  /** accepted ÷ drafted; undefined when nothing was drafted. */
  rate: number | undefined
  /** Indexes of the tokens that were accepted drafts. */
  tokens: Set<number>
}

/** What an Exact reply's stored settings say about its drafts; undefined for other replies. */
export function replyAcceptance(settings: Record<string, unknown>): ReplyAcceptance | undefined {
  const { drafted, accepted, draftedTokens } = settings
  if (typeof drafted !== 'number' || typeof accepted !== 'number') return undefined
  const tokens = new Set(Array.isArray(draftedTokens) ? draftedTokens.filter((i): i is number => typeof i === 'number') : [])
  return { drafted, accepted, rate: drafted > 0 ? accepted / drafted : undefined, tokens }
}

/** How many of the oldest messages were left out so the conversation fit the model's context (0: none). */
export function replyDroppedMessages(settings: Record<string, unknown>): number {
  return typeof settings.droppedMessages === 'number' && settings.droppedMessages > 0 ? settings.droppedMessages : 0
}

/** The decoding mode a reply was made in, from its stored settings. */
export function replyMode(settings: Record<string, unknown>): DecodingMode | undefined {
  return settings.mode === 'exact' || settings.mode === 'auto' ? settings.mode : undefined
}

/**
 * A reply's speed over the full model's, against the full-depth decode speed
 * measured for the model (sorted.json); undefined when either is unknown.
 */
export function speedupOverFull(tokensPerSecond: number | null | undefined, model: Pick<ModelSummary, 'numLayers' | 'results'> | undefined): number | undefined {
  const full = model?.results[String(model.numLayers)]?.decode_tokens_per_s
  if (!tokensPerSecond || !full) return undefined
  return tokensPerSecond / full
}
