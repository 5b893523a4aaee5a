/**
 * The prompts a draft-exit calibration answers: a small built-in neutral set,
 * or the user's file. A file is either
 *  - JSONL (or a JSON array) of {instruction, input?, …}: the evaluation-set
 *    format (engine/data/eval-set.ts), so an Alpaca or held-out file serves
 *    as it is; `input`, when present, follows the instruction after a blank
 *    line, as evaluations ask it; or
 *  - plain text: every non-blank line is one prompt.
 * The first non-blank character decides: `{` or `[` means JSON.
 *
 * A model with a chat template gets each prompt through it (as the app's
 * chat asks); one without gets the text as it is. A model without a
 * tokenizer gets fixed token ids, since no text can be encoded for it.
 */
import { readFileSync } from 'node:fs'
import { readEvalSet, type EvalSetItem } from '../data/eval-set'
import { DatasetError } from '../data/errors'
import type { PromptInput } from './prompt'

/** Everyday requests of no particular domain, answered at some length by most instruction models. */
export const BUILT_IN_CALIBRATION_PROMPTS: readonly string[] = [
  'Describe a quiet morning in a small town.',
  'Explain what a library is for.',
  'Define the noun "harbour".',
  'Write a few sentences about the sea.',
  'What is a river?',
  'Give a short description of how bread is made.',
]

/** A prompt and where it came from (`FILE:LINE`, `FILE[INDEX]`, or `built-in N`), for messages. */
export interface CalibrationPrompt {
  text: string
  at: string
}

export function builtInCalibrationPrompts(): CalibrationPrompt[] {
  return BUILT_IN_CALIBRATION_PROMPTS.map((text, i) => ({ text, at: `built-in prompt ${i + 1}` }))
}

/** Reads a prompts file; DatasetError naming the file (and line) when it is unreadable, empty or malformed. */
export function readCalibrationPrompts(file: string): CalibrationPrompt[] {
  let text: string
  try {
    text = readFileSync(file, 'utf8').replace(/^\uFEFF/, '')
  } catch (error) {
    throw DatasetError.file(file, `cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`)
  }
  const lines = text.split('\n')
  const filled = lines.flatMap((line, i) => (line.trim() === '' ? [] : [{ line: line.replace(/\r$/, ''), number: i + 1 }]))
  if (filled.length === 0) throw DatasetError.file(file, 'is empty: there are no prompts in it')
  const first = filled[0]!.line.trimStart()[0]
  if (first === '{' || first === '[') {
    // The evaluation-set reader validates every record, naming file, line (or index) and field.
    const items = promptRecords(file)
    const array = text.trimStart().startsWith('[')
    return items.map((item, i) => ({
      text: item.input ? `${item.instruction}\n\n${item.input}` : item.instruction,
      // Every line of a JSONL file that parsed is one item, in order.
      at: array ? `${file}[${i}]` : `${file}:${filled[i]!.number}`,
    }))
  }
  return filled.map(({ line, number }) => ({ text: line, at: `${file}:${number}` }))
}

/** The evaluation-set reader's items, its problems reported as the prompts file's. */
function promptRecords(file: string): EvalSetItem[] {
  try {
    return readEvalSet(file).items
  } catch (error) {
    if (!(error instanceof DatasetError) || error.problems.length === 0) throw error
    throw new DatasetError(`${file}: ${error.total} problem${error.total === 1 ? '' : 's'} in the prompts file`, error.problems, error.total)
  }
}

/** Token ids standing in for text when the model has no tokenizer: fixed, spread over the vocabulary. */
function idPrompt(index: number, vocabSize: number): number[] {
  return Array.from({ length: 8 }, (_, j) => (index * 7919 + j * 104729 + 3) % vocabSize)
}

/** The inputs for `prompts` on a model: through its chat template when it has one, as ids when it has no tokenizer. */
export function calibrationInputs(
  prompts: readonly CalibrationPrompt[],
  model: { hasTokenizer: boolean; hasChatTemplate: boolean; vocabSize: number },
): PromptInput[] {
  if (!model.hasTokenizer) return prompts.map((_, i) => ({ promptIds: idPrompt(i, model.vocabSize) }))
  return prompts.map((p) => ({ prompt: p.text, chat: model.hasChatTemplate }))
}
