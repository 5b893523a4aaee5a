import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { readEvalSet } from '../../../../src-main/engine/data/eval-set'

const dir = mkdtempSync(join(tmpdir(), 'eval-set-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const file = (name: string, text: string) => {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

describe('evaluation sets', () => {
  it("reads PandaLM's published inference set: 170 instructions without references", () => {
    const set = readEvalSet(join(__dirname, '../../../../resources/eval/pandalm/testset-inference-v1.json'))
    expect(set.format).toBe('pandalm')
    expect(set.items).toHaveLength(170)
    expect(set.items[0]!.instruction).toMatch(/^Summarize a meeting/)
    expect(set.items.every((i) => i.reference === null)).toBe(true)
  })

  it('takes an Alpaca output as the reference', () => {
    const set = readEvalSet(file('a.json', JSON.stringify([{ instruction: 'define cat', input: '', output: 'a small feline' }])))
    expect(set).toEqual({ format: 'alpaca', items: [{ instruction: 'define cat', input: '', reference: 'a small feline' }] })
  })

  it('reads plain JSONL with optional input and reference', () => {
    const set = readEvalSet(file('p.jsonl', `${JSON.stringify({ instruction: 'x', reference: 'y' })}\n\n${JSON.stringify({ instruction: 'z', input: 'w' })}\n`))
    expect(set.items).toEqual([
      { instruction: 'x', input: '', reference: 'y' },
      { instruction: 'z', input: 'w', reference: null },
    ])
  })

  it('names the file, line or index, and field of every bad record, importing nothing', () => {
    const path = file('bad.jsonl', `${JSON.stringify({ instruction: 'ok' })}\n{"instruction": 3}\nnope\n${JSON.stringify({ input: 'no instruction' })}\n`)
    expect(() => readEvalSet(path)).toThrow(new RegExp(`${path}:2: field "instruction"`))
    expect(() => readEvalSet(path)).toThrow(new RegExp(`${path}:3: not valid JSON`))
    expect(() => readEvalSet(path)).toThrow(new RegExp(`${path}:4: field "instruction"`))
    const json = file('bad.json', JSON.stringify([{ instruction: 'ok' }, { instruction: '' }]))
    expect(() => readEvalSet(json)).toThrow(new RegExp(`${json.replace(/[.[\]]/g, '\\$&')}\\[1\\]: field "instruction": must not be empty`))
  })
})
