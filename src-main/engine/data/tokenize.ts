/**
 * Records → token ids with labels, the loss taken on response tokens only.
 *
 * Labels follow Hugging Face: aligned with the ids (unshifted; the loss
 * compares the prediction at position t with labels[t + 1]) and
 * IGNORE_INDEX (-100) on every token that is not part of a response.
 *
 * - With the model's chat template, a conversation is rendered whole, once,
 *   and encoded without adding special tokens (the template writes them).
 *   Each assistant turn's response starts where the template's rendering of
 *   the conversation before it, with the generation prompt, ends; it runs
 *   through the turn's end-of-turn token (the first special token after the
 *   response starts: `<|eot_id|>`, `<|im_end|>`, `</s>`), and no further than
 *   the turn itself renders. Every assistant turn is learned; system and user
 *   turns and the template's headers are not.
 * - Without a chat template, the Stanford Alpaca prompt, as inference uses
 *   it (see generate/prompt.ts): `alpacaPrompt(instruction, input)` +
 *   response + EOS, encoded with the tokenizer's own special tokens (BOS).
 *   A multi-turn conversation becomes one such exchange per assistant turn,
 *   one after the other, with the system text before the first.
 *
 * EOS is appended after the last response when the rendering does not
 * already end it with a special token, so that the model learns to stop.
 * Masked tokens after the last response are dropped: with right padding they
 * change nothing a causal model computes for the tokens before them.
 */
import { alpacaPrompt } from '../tokenizer/chat-template'
import type { ChatFormatter, ChatMessage } from '../tokenizer/chat-template'
import type { TextTokenizer } from '../tokenizer/tokenizer'
import type { RecordLocation } from './errors'
import { IGNORE_INDEX } from './formats'
import type { DatasetRecord } from './formats'

/** A record as the trainer sees it: ids and aligned labels, IGNORE_INDEX where no loss is taken. */
export interface TokenizedRecord {
  inputIds: number[]
  labels: number[]
  source: RecordLocation
}

export interface PromptFormat {
  /** Needed for every record that is text. */
  tokenizer?: TextTokenizer
  /** The model's chat template; without one, the Alpaca template is used. */
  formatter?: ChatFormatter
}

/** A record the formatting cannot handle; the caller adds where it came from. */
export class RecordFormatError extends Error {
  override name = 'RecordFormatError'
}

export function tokenizeRecord(record: DatasetRecord, format: PromptFormat): TokenizedRecord {
  const { source } = record
  if (record.kind === 'tokens') return { inputIds: record.inputIds, labels: record.labels, source }
  const { tokenizer, formatter } = format
  if (tokenizer === undefined) throw new RecordFormatError('text records need the model\'s tokenizer (tokenizer.json)')
  let tokens: { inputIds: number[]; labels: number[] }
  if (record.kind === 'instruction') {
    const { instruction, input, output } = record
    if (formatter !== undefined) {
      const user = input === undefined ? instruction : `${instruction}\n\n${input}`
      const messages: ChatMessage[] = [
        { role: 'user', content: user },
        { role: 'assistant', content: output },
      ]
      tokens = chatTemplateTokens(messages, tokenizer, formatter)
    } else {
      tokens = alpacaTokens([{ prompt: alpacaPrompt(instruction, input), response: output }], tokenizer)
    }
  } else {
    tokens =
      formatter !== undefined
        ? chatTemplateTokens(record.messages, tokenizer, formatter)
        : alpacaTokens(alpacaExchanges(record.messages), tokenizer)
  }
  return { ...tokens, source }
}

// ---- Chat template -------------------------------------------------------

function chatTemplateTokens(
  messages: ChatMessage[],
  tokenizer: TextTokenizer,
  formatter: ChatFormatter,
): { inputIds: number[]; labels: number[] } {
  const text = formatter.format(messages, { addGenerationPrompt: false })
  const inputIds = tokenizer.encode(text, { addSpecialTokens: false })
  const labels = inputIds.map(() => IGNORE_INDEX)
  const boundary = tokenBoundaries(text, inputIds, tokenizer, false)
  const special = new Set(tokenizer.specialTokens.values())

  let lastEnd = 0
  let lastEndedBySpecial = false
  messages.forEach((message, i) => {
    if (message.role !== 'assistant') return
    const prompt = formatter.format(messages.slice(0, i), { addGenerationPrompt: true })
    if (!text.startsWith(prompt)) {
      throw new RecordFormatError(
        `the chat template renders the conversation before message ${i} (assistant) differently from how it renders ` +
          'it inside the whole conversation, so the response cannot be told apart from the prompt',
      )
    }
    // The turn ends where the rendering up to and including it stops
    // agreeing with the whole conversation; a template that writes an
    // assistant header after every conversation ends it later, which the
    // end-of-turn token below cuts back.
    const through = formatter.format(messages.slice(0, i + 1), { addGenerationPrompt: false })
    const start = boundary(prompt.length).floor
    const turnEnd = boundary(commonPrefixLength(text, through)).ceil
    let end = turnEnd
    let endedBySpecial = false
    for (let k = start; k < turnEnd; k++) {
      if (special.has(inputIds[k]!)) {
        end = k + 1
        endedBySpecial = true
        break
      }
    }
    for (let k = start; k < end; k++) labels[k] = inputIds[k]!
    if (end > start) {
      lastEnd = end
      lastEndedBySpecial = endedBySpecial
    }
  })

  // Masked tokens after the last response teach nothing.
  inputIds.length = lastEnd
  labels.length = lastEnd
  if (lastEnd > 0 && !lastEndedBySpecial) {
    const eos = eosOf(tokenizer)
    inputIds.push(eos)
    labels.push(eos)
  }
  return { inputIds, labels }
}

// ---- Alpaca --------------------------------------------------------------

interface Exchange {
  prompt: string
  response: string
}

/**
 * A conversation as Alpaca exchanges, the way inference prompts a model
 * without a chat template: system text, a blank line, then the Alpaca
 * prompt. User messages since the last response are joined.
 */
function alpacaExchanges(messages: ChatMessage[]): Exchange[] {
  const system = messages.filter((m) => m.role === 'system').map((m) => m.content)
  const exchanges: Exchange[] = []
  let pending: string[] = []
  messages.forEach((message, i) => {
    if (message.role === 'user') pending.push(message.content)
    if (message.role !== 'assistant') return
    if (pending.length === 0) {
      throw new RecordFormatError(
        `assistant message ${i} answers no user message; without a chat template the Alpaca format needs an instruction before each response`,
      )
    }
    const prompt = alpacaPrompt(pending.join('\n\n'))
    const first = exchanges.length === 0 && system.length > 0
    exchanges.push({ prompt: first ? `${system.join('\n')}\n\n${prompt}` : prompt, response: message.content })
    pending = []
  })
  return exchanges
}

function alpacaTokens(exchanges: Exchange[], tokenizer: TextTokenizer): { inputIds: number[]; labels: number[] } {
  const eos = eosOf(tokenizer)
  const inputIds: number[] = []
  const labels: number[] = []
  exchanges.forEach(({ prompt, response }, k) => {
    // BOS once, at the start of the sequence.
    const addSpecialTokens = k === 0
    const text = prompt + response
    const ids = tokenizer.encode(text, { addSpecialTokens })
    const start = tokenBoundaries(text, ids, tokenizer, addSpecialTokens)(prompt.length).floor
    ids.forEach((id, t) => {
      inputIds.push(id)
      labels.push(t < start ? IGNORE_INDEX : id)
    })
    if (!tokenizer.eosTokenIds.includes(ids[ids.length - 1]!)) {
      inputIds.push(eos)
      labels.push(eos)
    }
  })
  return { inputIds, labels }
}

// ---- Helpers -------------------------------------------------------------

function eosOf(tokenizer: TextTokenizer): number {
  const eos = tokenizer.eosTokenIds[0]
  if (eos === undefined) {
    throw new RecordFormatError('the tokenizer names no end-of-sequence token, so a response cannot be ended')
  }
  return eos
}

/**
 * Token positions for character positions of `text`, whose encoding is
 * `ids`: the tokens of text[0, pos) are those that encoding the prefix alone
 * shares with the whole. Where a token straddles pos (a merge across the
 * boundary), `floor` leaves it after the boundary and `ceil` before, so that
 * a response [floor(start), ceil(end)) keeps every token holding any of it.
 */
function tokenBoundaries(
  text: string,
  ids: number[],
  tokenizer: TextTokenizer,
  addSpecialTokens: boolean,
): (pos: number) => { floor: number; ceil: number } {
  return (pos) => {
    if (pos >= text.length) return { floor: ids.length, ceil: ids.length }
    const prefix = tokenizer.encode(text.slice(0, pos), { addSpecialTokens })
    const shared = commonPrefixLength(prefix, ids)
    if (shared === prefix.length) return { floor: shared, ceil: shared }
    return { floor: shared, ceil: Math.min(shared + 1, ids.length) }
  }
}

function commonPrefixLength<T>(a: ArrayLike<T>, b: ArrayLike<T>): number {
  const n = Math.min(a.length, b.length)
  let k = 0
  while (k < n && a[k] === b[k]) k++
  return k
}
