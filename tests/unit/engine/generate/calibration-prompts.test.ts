/**
 * The prompts a calibration answers: a file of JSONL records or plain lines,
 * each prompt remembering where it came from; malformed files refused naming
 * the file and line; inputs through the chat template when the model has one.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { builtInCalibrationPrompts, calibrationInputs, readCalibrationPrompts } from '../../../../src-main/engine/generate/calibration-prompts'
import { DatasetError } from '../../../../src-main/engine/data/errors'

const root = mkdtempSync(join(tmpdir(), 'calibration-prompts-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

function file(name: string, text: string): string {
  const path = join(root, name)
  writeFileSync(path, text)
  return path
}

describe('readCalibrationPrompts', () => {
  it('reads plain text, one prompt a non-blank line', () => {
    const path = file('plain.txt', 'What is a river?\r\n\n  Tell me about bread.\n')
    expect(readCalibrationPrompts(path)).toEqual([
      { text: 'What is a river?', at: `${path}:1` },
      { text: '  Tell me about bread.', at: `${path}:3` },
    ])
  })

  it('reads JSONL records with instruction (and input after a blank line), and a JSON array', () => {
    const path = file('set.jsonl', '{"instruction": "Define the noun \\"harbour\\"."}\n\n{"instruction": "Summarise", "input": "The sea is wide.", "output": "Wide sea."}\n')
    expect(readCalibrationPrompts(path)).toEqual([
      { text: 'Define the noun "harbour".', at: `${path}:1` },
      { text: 'Summarise\n\nThe sea is wide.', at: `${path}:3` },
    ])
    const array = file('set.json', '[{"instruction": "One"}, {"instruction": "Two"}]')
    expect(readCalibrationPrompts(array).map((p) => p.at)).toEqual([`${array}[0]`, `${array}[1]`])
  })

  it('refuses a malformed record, naming the file, line and field', () => {
    const path = file('bad.jsonl', '{"instruction": "Fine"}\n{"prompt": "no instruction"}\n{"instruction": \n')
    const error = (() => {
      try {
        readCalibrationPrompts(path)
      } catch (e) {
        return e as DatasetError
      }
      throw new Error('accepted')
    })()
    expect(error).toBeInstanceOf(DatasetError)
    expect(error.message.split('\n')[0]).toBe(`${path}: 2 problems in the prompts file`)
    expect(error.message).toContain(`${path}:2: field "instruction":`)
    expect(error.message).toContain(`${path}:3: not valid JSON`)
  })

  it('refuses an empty or missing file, naming it', () => {
    const empty = file('empty.txt', '\n  \n')
    expect(() => readCalibrationPrompts(empty)).toThrow(`${empty}: is empty: there are no prompts in it`)
    const missing = join(root, 'missing.txt')
    expect(() => readCalibrationPrompts(missing)).toThrow(`${missing}: cannot be read (ENOENT)`)
  })
})

describe('calibrationInputs', () => {
  const prompts = builtInCalibrationPrompts().slice(0, 2)

  it('asks through the chat template when the model has one, as plain text when not', () => {
    expect(calibrationInputs(prompts, { hasTokenizer: true, hasChatTemplate: true, vocabSize: 100 })).toEqual(prompts.map((p) => ({ prompt: p.text, chat: true })))
    expect(calibrationInputs(prompts, { hasTokenizer: true, hasChatTemplate: false, vocabSize: 100 })).toEqual(prompts.map((p) => ({ prompt: p.text, chat: false })))
  })

  it('gives a model without a tokenizer distinct fixed ids inside its vocabulary', () => {
    const inputs = calibrationInputs(prompts, { hasTokenizer: false, hasChatTemplate: false, vocabSize: 40 }) as { promptIds: number[] }[]
    expect(inputs).toHaveLength(2)
    expect(inputs[0]!.promptIds).not.toEqual(inputs[1]!.promptIds)
    expect(inputs.flatMap((i) => i.promptIds).every((id) => Number.isInteger(id) && id >= 0 && id < 40)).toBe(true)
  })
})
