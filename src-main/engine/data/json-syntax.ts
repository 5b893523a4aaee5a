/**
 * Why a text is not JSON, in words that never quote the text itself.
 *
 * V8's JSON.parse messages copy the start of the input into the message
 * (`Unexpected token 'r', "root:$6$…" is not valid JSON`). A dataset path
 * can name any readable file, and these messages travel to the preview, the
 * CLI and logs, so they are rebuilt from a fixed list of phrases: a line
 * number and a column are shown, the file's own characters never are.
 */

/** Fixed V8 phrases (none holds input text), each with the description shown. */
const phrases: [RegExp, string][] = [
  [/^Unexpected end of JSON input/, 'the text ends before the value is complete'],
  [/^Unexpected non-whitespace character after JSON/, 'unexpected text after the value'],
  [/^Unterminated string/, 'a string is not closed'],
  [/^Expected property name or '\}'/, "expected a property name in double quotes or '}'"],
  [/^Expected ':' after property name/, "expected ':' after a property name"],
  [/^Expected ',' or '\}' after property value/, "expected ',' or '}' after a property value"],
  [/^Expected ',' or '\]' after array element/, "expected ',' or ']' after an array element"],
  [/^Expected double-quoted property name/, 'expected a property name in double quotes'],
  [/^Bad control character in string literal/, 'a control character inside a string (write it escaped)'],
  [/^Bad escaped character/, 'a bad escape sequence in a string'],
  [/^Bad Unicode escape/, 'a bad \\u escape in a string'],
  [/^(No number after minus sign|Exponent part is missing a number|Unterminated fractional number)/, 'a malformed number'],
  [/^Unexpected token/, 'an unexpected character'],
]

export interface JsonSyntaxProblem {
  /** What is wrong, without any of the input's text. */
  description: string
  /** 0-based offset into the parsed text, when the parser gave one. */
  position: number | undefined
}

export function jsonSyntaxProblem(error: unknown): JsonSyntaxProblem {
  const message = error instanceof Error ? error.message : String(error)
  const found = phrases.find(([pattern]) => pattern.test(message))
  const position = /at position (\d+)/.exec(message)?.[1]
  return { description: found?.[1] ?? 'not JSON', position: position === undefined ? undefined : Number(position) }
}

/** `an unexpected character`, `a string is not closed (column 12)`: for one line of a JSONL file. */
export function describeJsonLineError(error: unknown): string {
  const { description, position } = jsonSyntaxProblem(error)
  return position === undefined ? description : `${description} (column ${position + 1})`
}
