/**
 * Evaluation sets: instructions (with optional input and reference answer)
 * that contenders answer and judges compare. Read from
 *  - PandaLM's inference set: a JSON array of {motivation_app?, instruction, input};
 *  - Alpaca JSON or JSONL: {instruction, input?, output} — the output becomes the reference;
 *  - plain JSONL (or a JSON array) of {instruction, input?, reference?}.
 * Every malformed record is reported with file, line (JSONL) or index (JSON)
 * and field, as for training datasets; nothing is imported from a bad file.
 */
import { readFileSync } from 'node:fs'
import { z } from 'zod'
import { DatasetError, type RecordProblem } from './errors'
import { describeJsonLineError, jsonSyntaxProblem } from './json-syntax'

export interface EvalSetItem {
  instruction: string
  input: string
  reference: string | null
}

export type EvalSetFormat = 'pandalm' | 'alpaca' | 'plain'

const Item = z
  .object({
    instruction: z.string().min(1, 'must not be empty'),
    input: z.string().optional(),
    output: z.string().optional(),
    reference: z.string().optional(),
    motivation_app: z.string().optional(),
  })
  .passthrough()

function detectFormat(first: Record<string, unknown>): EvalSetFormat {
  if ('output' in first) return 'alpaca'
  if ('motivation_app' in first) return 'pandalm'
  return 'plain'
}

export interface ReadEvalSet {
  format: EvalSetFormat
  items: EvalSetItem[]
}

export function readEvalSet(file: string): ReadEvalSet {
  let text: string
  try {
    text = readFileSync(file, 'utf8').replace(/^\uFEFF/, '')
  } catch (error) {
    throw DatasetError.file(file, `cannot be read (${(error as Error).message})`)
  }
  if (text.trim() === '') throw DatasetError.file(file, 'is empty: there are no records in it')
  const values: { value: unknown; at: { line?: number; index?: number } }[] = []
  const problems: RecordProblem[] = []
  if (text.trimStart().startsWith('[')) {
    let array: unknown
    try {
      array = JSON.parse(text)
    } catch (error) {
      throw DatasetError.file(file, `is not valid JSON (${jsonSyntaxProblem(error).description})`)
    }
    ;(array as unknown[]).forEach((value, index) => values.push({ value, at: { index } }))
  } else {
    text.split('\n').forEach((line, i) => {
      if (line.trim() === '') return
      try {
        values.push({ value: JSON.parse(line), at: { line: i + 1 } })
      } catch (error) {
        problems.push({ file, line: i + 1, message: `not valid JSON (${describeJsonLineError(error)})` })
      }
    })
  }
  const items: EvalSetItem[] = []
  for (const { value, at } of values) {
    const parsed = Item.safeParse(value)
    if (!parsed.success) {
      for (const issue of parsed.error.issues) problems.push({ file, ...at, ...(issue.path.length ? { field: issue.path.join('.') } : {}), message: issue.message })
      continue
    }
    const { instruction, input = '', output, reference } = parsed.data
    items.push({ instruction, input, reference: reference ?? output ?? null })
  }
  if (problems.length) throw new DatasetError(`${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'} in the evaluation set (nothing was imported)`, problems)
  if (items.length === 0) throw DatasetError.file(file, 'has no items')
  return { format: detectFormat(values[0]!.value as Record<string, unknown>), items }
}
