/**
 * Dataset files are UTF-8. Bytes that are not become U+FFFD when decoded,
 * which would put replacement characters into the training text without a
 * word: the decoding here also reports which lines held such bytes, so the
 * CLI and the dataset preview can say so.
 */
import { isUtf8 } from 'node:buffer'

/** Lines whose bytes are not valid UTF-8 (decoded with U+FFFD in their place). */
export interface EncodingReport {
  /** How many lines. */
  lines: number
  /** The first of them, 1-based, at most {@link listedLines}. */
  firstLines: number[]
}

/** Line numbers listed in a report; the rest are counted. */
export const listedLines = 5

export function decodeUtf8(bytes: Buffer): { text: string; invalid: EncodingReport | undefined } {
  const text = bytes.toString('utf8')
  // The whole buffer at once first: valid files (nearly all) cost one native pass.
  if (isUtf8(bytes)) return { text, invalid: undefined }
  const firstLines: number[] = []
  let lines = 0
  let start = 0
  for (let line = 1; start <= bytes.length; line++) {
    let end = bytes.indexOf(0x0a, start)
    if (end === -1) end = bytes.length
    if (!isUtf8(bytes.subarray(start, end))) {
      lines++
      if (firstLines.length < listedLines) firstLines.push(line)
    }
    start = end + 1
  }
  return { text, invalid: { lines, firstLines } }
}

/** `3 lines are not valid UTF-8 (lines 2, 7, 9); their bad bytes were read as U+FFFD (�)`. */
export function describeEncoding(file: string, report: EncodingReport): string {
  const more = report.lines > report.firstLines.length ? ', …' : ''
  const which = `line${report.firstLines.length === 1 ? '' : 's'} ${report.firstLines.join(', ')}${more}`
  const count = report.lines === 1 ? '1 line is' : `${report.lines} lines are`
  return `${file}: ${count} not valid UTF-8 (${which}); their bad bytes were read as U+FFFD (\uFFFD). Save the file as UTF-8.`
}
