/**
 * Turning what the user typed into prompt token ids: raw ids as given; text
 * through the tokenizer; a conversation through the model's chat template,
 * or the Alpaca template when the model has none.
 */
import { alpacaPrompt, type ChatFormatter, type ChatMessage } from '../tokenizer/chat-template'
import type { TextTokenizer } from '../tokenizer/tokenizer'

export type PromptInput = { promptIds: readonly number[] } | { prompt: string; chat?: boolean } | { messages: readonly ChatMessage[] }

function conversation(input: PromptInput): readonly ChatMessage[] | undefined {
  if ('messages' in input) return input.messages
  if ('prompt' in input && input.chat) return [{ role: 'user', content: input.prompt }]
  return undefined
}

export function promptIds(input: PromptInput, tokenizer: TextTokenizer | undefined, formatter: ChatFormatter | undefined): number[] {
  if ('promptIds' in input) return [...input.promptIds]
  if (!tokenizer) throw new Error('This model has no tokenizer (tokenizer.json): give the prompt as token ids.')
  const messages = conversation(input)
  if (!messages) return tokenizer.encode((input as { prompt: string }).prompt, { addSpecialTokens: true })
  // A chat template writes its own special tokens (BOS included).
  if (formatter) return tokenizer.encode(formatter.format([...messages], { addGenerationPrompt: true }), { addSpecialTokens: false })
  // Alpaca has one instruction and no turns: the last user message, with any system text before it.
  const lastUser = [...messages].reverse().find((m) => m.role === 'user')
  if (!lastUser) throw new Error('The conversation has no user message to answer.')
  const system = messages.filter((m) => m.role === 'system').map((m) => m.content)
  const text = alpacaPrompt(lastUser.content)
  return tokenizer.encode(system.length ? `${system.join('\n')}\n\n${text}` : text, { addSpecialTokens: true })
}
