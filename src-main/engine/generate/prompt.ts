/**
 * Turning what the user typed into prompt token ids: raw ids as given; text
 * through the tokenizer; a conversation through the model's chat template,
 * or the Alpaca template when the model has none. A conversation too long
 * for the context loses its oldest turns (context.ts); ids and text are
 * returned as they are, for the caller to check against the context.
 */
import { alpacaPrompt, type ChatFormatter, type ChatMessage } from '../tokenizer/chat-template'
import type { TextTokenizer } from '../tokenizer/tokenizer'
import { fitConversation, type FittedConversation } from './context'

export type PromptInput = { promptIds: readonly number[] } | { prompt: string; chat?: boolean } | { messages: readonly ChatMessage[] }

function conversation(input: PromptInput): readonly ChatMessage[] | undefined {
  if ('messages' in input) return input.messages
  if ('prompt' in input && input.chat) return [{ role: 'user', content: input.prompt }]
  return undefined
}

/** Prompt ids of a conversation, with no fitting. */
function conversationIds(messages: readonly ChatMessage[], tokenizer: TextTokenizer, formatter: ChatFormatter | undefined): number[] {
  // A chat template writes its own special tokens (BOS included).
  if (formatter) return tokenizer.encode(formatter.format([...messages], { addGenerationPrompt: true }), { addSpecialTokens: false })
  // Alpaca has one instruction and no turns: the last user message, with any system text before it.
  const lastUser = [...messages].reverse().find((m) => m.role === 'user')
  if (!lastUser) throw new Error('The conversation has no user message to answer.')
  const system = messages.filter((m) => m.role === 'system').map((m) => m.content)
  const text = alpacaPrompt(lastUser.content)
  return tokenizer.encode(system.length ? `${system.join('\n')}\n\n${text}` : text, { addSpecialTokens: true })
}

/**
 * The prompt ids for `input`; a conversation is cut to `context` tokens
 * (PromptError when even its latest turn does not fit), `dropped` saying how
 * many of its oldest messages were left out.
 */
export function promptIds(input: PromptInput, tokenizer: TextTokenizer | undefined, formatter: ChatFormatter | undefined, context = Infinity): FittedConversation {
  if ('promptIds' in input) return { ids: [...input.promptIds], dropped: 0 }
  if (!tokenizer) throw new Error('This model has no tokenizer (tokenizer.json): give the prompt as token ids.')
  const messages = conversation(input)
  if (!messages) return { ids: tokenizer.encode((input as { prompt: string }).prompt, { addSpecialTokens: true }), dropped: 0 }
  const measure = {
    count: (text: string) => tokenizer.encode(text, { addSpecialTokens: false }).length,
    encode: (kept: readonly ChatMessage[]) => conversationIds(kept, tokenizer, formatter),
  }
  return fitConversation(messages, measure, context)
}
