import { join } from 'node:path'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { pandalmPrompt, parseVerdict } from '../../../../src-main/engine/judge/pandalm'

describe('pandalmPrompt', () => {
  it('renders the with-input template byte for byte', () => {
    const prompt = pandalmPrompt({ instruction: 'Translate to French.', input: 'Good morning', response1: 'Bonjour', response2: 'Bonsoir' })
    expect(prompt).toBe(
      'Below are two responses for a given task. The task is defined by the Instruction with an Input that provides further context. Evaluate the responses and generate a reference answer for the task.\n' +
        '\n' +
        '### Instruction:\n' +
        'Translate to French.\n' +
        '\n' +
        '### Input:\n' +
        'Good morning\n' +
        '\n' +
        '### Response 1:\n' +
        'Bonjour\n' +
        '\n' +
        '### Response 2:\n' +
        'Bonsoir\n' +
        '\n' +
        '### Evaluation:\n',
    )
  })

  it('renders the no-input template byte for byte, for absent, empty and whitespace input', () => {
    const expected =
      'Below are two responses for a given task. The task is defined by the Instruction. Evaluate the responses and generate a reference answer for the task.\n' +
      '\n' +
      '### Instruction:\n' +
      'Name a primary colour.\n' +
      '\n' +
      '### Response 1:\n' +
      'Red\n' +
      '\n' +
      '### Response 2:\n' +
      'Green\n' +
      '\n' +
      '### Evaluation:\n'
    const base = { instruction: 'Name a primary colour.', response1: 'Red', response2: 'Green' }
    expect(pandalmPrompt(base)).toBe(expected)
    expect(pandalmPrompt({ ...base, input: '' })).toBe(expected)
    expect(pandalmPrompt({ ...base, input: ' \n\t' })).toBe(expected)
  })

  it('cleans responses as upstream does (trim, drop special tokens) but not instruction or input', () => {
    const prompt = pandalmPrompt({ instruction: 'Say hi.', input: 'x', response1: '  hi</s>\n', response2: '<s>hello<unk> ' })
    expect(prompt).toContain('### Response 1:\nhi\n\n### Response 2:\nhello\n\n### Evaluation:\n')
  })
})

describe('parseVerdict', () => {
  it('reads a full generation', () => {
    const out = parseVerdict(
      '1\n\n### Reason: Response 1 is more concise and answers the question.\n\n### Reference: Bonjour means good morning.\n',
    )
    expect(out).toEqual({
      verdict: '1',
      reason: 'Response 1 is more concise and answers the question.',
      reference: 'Bonjour means good morning.',
    })
  })

  it('reads the verdict from the first trimmed line, case-insensitively for tie', () => {
    expect(parseVerdict('Tie').verdict).toBe('Tie')
    expect(parseVerdict('tie\n').verdict).toBe('Tie')
    expect(parseVerdict('TIE\n\n### Reason: both fine').verdict).toBe('Tie')
    expect(parseVerdict('2 ').verdict).toBe('2')
    expect(parseVerdict('  1').verdict).toBe('1')
    expect(parseVerdict('2\n### Reason: r').verdict).toBe('2')
  })

  it('counts anything else as a tie, with empty reason and reference when absent', () => {
    expect(parseVerdict('Response 1 is better')).toEqual({ verdict: 'Tie', reason: '', reference: '' })
    expect(parseVerdict('12\n### Reason: x').verdict).toBe('Tie')
    expect(parseVerdict('')).toEqual({ verdict: 'Tie', reason: '', reference: '' })
    expect(parseVerdict('\n\n')).toEqual({ verdict: 'Tie', reason: '', reference: '' })
  })

  it('takes the reason to the end when there is no reference, and a reference without a reason', () => {
    expect(parseVerdict('2\n\n### Reason: shorter and correct')).toEqual({ verdict: '2', reason: 'shorter and correct', reference: '' })
    expect(parseVerdict('1\n\n### Reference: 42')).toEqual({ verdict: '1', reason: '', reference: '42' })
  })
})

interface TestRecord {
  instruction: string
  input: string
  // Six responses are JSON `true` in the published file (a model answered "True").
  response1: string | boolean
  response2: string | boolean
  annotator1: number
  annotator2: number
  annotator3: number
}

// Shipped with the repository (resources/eval/pandalm, Apache-2.0, see its README).
const TESTSET = join(__dirname, '../../../../resources/eval/pandalm/testset-v1.json')

describe('PandaLM test set (999 human-labelled pairs)', () => {
  const records = JSON.parse(readFileSync(TESTSET, 'utf8')) as TestRecord[]

  it('renders a prompt with the instruction, both responses and the Input block when there is input', () => {
    expect(records).toHaveLength(999)
    let withInput = 0
    for (const r of records) {
      const response1 = String(r.response1).trim()
      const response2 = String(r.response2).trim()
      const prompt = pandalmPrompt({ instruction: r.instruction, input: r.input, response1, response2 })
      expect(prompt).toContain(`### Instruction:\n${r.instruction}\n\n`)
      expect(prompt).toContain(`### Response 1:\n${response1}\n\n### Response 2:\n${response2}\n\n### Evaluation:\n`)
      if (r.input.trim() !== '') {
        withInput++
        expect(prompt).toContain(`\n\n### Input:\n${r.input}\n\n### Response 1:\n`)
        expect(prompt.startsWith('Below are two responses for a given task. The task is defined by the Instruction with an Input')).toBe(true)
      } else {
        expect(prompt).not.toContain('### Input:')
      }
    }
    expect(withInput).toBe(832)
  })

  it('has a majority human label on every pair: 1 → 422, 2 → 472, tie → 105', () => {
    const counts = { '1': 0, '2': 0, tie: 0, none: 0 }
    for (const r of records) {
      const votes = [r.annotator1, r.annotator2, r.annotator3]
      const majority = [0, 1, 2].find((label) => votes.filter((v) => v === label).length >= 2)
      if (majority === undefined) counts.none++
      else if (majority === 0) counts.tie++
      else counts[majority === 1 ? '1' : '2']++
    }
    expect(counts).toEqual({ '1': 422, '2': 472, tie: 105, none: 0 })
  })
})
