/**
 * GPT-2's byte-level view of text, shared by the trainer and the saved
 * tokenizer.json: text is split into words by one regex, and each word's
 * UTF-8 bytes are written as printable characters, so every string has a
 * spelling in 256 base tokens and nothing is ever unknown.
 */

/**
 * The split that a `ByteLevel` pre-tokenizer with `use_regex: true` applies
 * (GPT-2's pattern, as in Hugging Face tokenizers, Rust and JS). Training
 * splits with the same pattern, so the words merges are learned on are the
 * words the saved tokenizer will encode.
 */
export const BYTE_LEVEL_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu

/**
 * GPT-2's `bytes_to_unicode`: printable bytes stand for themselves, the
 * rest (controls, space, …) are shifted to U+0100 and up, so a space is `Ġ`
 * and a newline `Ċ`. Index: byte; value: its one-character token.
 */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff)
  const chars: string[] = []
  let shifted = 0
  for (let b = 0; b < 256; b++) chars.push(String.fromCodePoint(printable(b) ? b : 256 + shifted++))
  return chars
})()

const utf8 = new TextEncoder()

/** A word's UTF-8 bytes as byte-level characters ("hé" → "hÃ©"). */
export function byteLevelWord(word: string): string {
  let out = ''
  for (const byte of utf8.encode(word)) out += BYTE_TO_CHAR[byte]!
  return out
}

/** Text as the byte-level words a `ByteLevel` pre-tokenizer produces. */
export function byteLevelWords(text: string): string[] {
  return (text.match(BYTE_LEVEL_SPLIT) ?? []).map(byteLevelWord)
}
