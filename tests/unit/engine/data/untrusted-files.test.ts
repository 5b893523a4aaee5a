import { writeFileSync } from 'node:fs'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { DatasetError, MAX_RECORD_CHARS, formatProblem, loadDataset, readDataset } from '../../../../src-main/engine/data'
import { readEvalSet } from '../../../../src-main/engine/data/eval-set'
import { byteModel, datasetFile, jsonl } from './fixtures'

/** The message of the DatasetError `read` throws. */
function errorOf(read: () => unknown): DatasetError {
  try {
    read()
  } catch (error) {
    if (error instanceof DatasetError) return error
    throw error
  }
  throw new Error('expected a DatasetError')
}

afterEach(() => vi.restoreAllMocks())

describe('a record too large to tokenize', () => {
  it('JSONL: is refused with its line before it is parsed, and the other records are kept under skip', () => {
    const huge = JSON.stringify({ instruction: 'a', output: 'x'.repeat(MAX_RECORD_CHARS) })
    const file = datasetFile('big.jsonl', `${jsonl({ instruction: 'a', output: 'b' })}${huge}\n${jsonl({ instruction: 'c', output: 'd' })}`)
    const parse = vi.spyOn(JSON, 'parse')
    const error = errorOf(() => readDataset(file))
    expect(error.problems.map(formatProblem)).toEqual([expect.stringMatching(new RegExp(`^${file}:2: the record is [\\d,]+ characters long; a record may hold at most 262,144`))])
    // The huge line never reached the parser: refusing it allocated nothing beyond the read.
    for (const [text] of parse.mock.calls) expect(text.length).toBeLessThan(MAX_RECORD_CHARS)
    const skipped = readDataset(file, { onError: 'skip' })
    expect(skipped.records).toHaveLength(2)
    expect(skipped.skipped.map((s) => s.line)).toEqual([2])
  })

  it('JSON array: is refused with its index', () => {
    const file = datasetFile('big.json', [{ instruction: 'a', output: 'b' }, { instruction: 'a', output: 'y'.repeat(MAX_RECORD_CHARS + 1) }])
    expect(errorOf(() => readDataset(file)).problems.map(formatProblem)).toEqual([expect.stringContaining(`${file}[1]: the record is`)])
  })
})

describe('bytes that are not UTF-8', () => {
  it('are counted, and the first lines named, as a warning that does not stop the load', () => {
    const { tokenizer } = byteModel()
    const good = (n: number) => Buffer.from(`${JSON.stringify({ instruction: `q${n}`, output: `a${n}` })}\n`)
    const bad = (n: number) => Buffer.concat([Buffer.from(`{"instruction": "caf`), Buffer.from([0xe9, 0xff]), Buffer.from(`${n}", "output": "x"}\n`)])
    const file = datasetFile('latin1.jsonl', '')
    writeFileSync(file, Buffer.concat([good(1), bad(2), good(3), bad(4), bad(5)]))
    const data = loadDataset(file, { tokenizer, seqLen: 512 })
    expect(data.records).toHaveLength(5)
    expect(data.warnings).toEqual([`${file}: 3 lines are not valid UTF-8 (lines 2, 4, 5); their bad bytes were read as U+FFFD (\uFFFD). Save the file as UTF-8.`])
    const clean = datasetFile('clean.jsonl', jsonl({ instruction: 'café', output: 'ok' }))
    expect(loadDataset(clean, { tokenizer, seqLen: 512 }).warnings).toEqual([])
  })
})

describe('a file that is not a dataset', () => {
  // What /etc/shadow looks like: its contents must never appear in an error (they reach the UI and logs).
  const secret = 'root:$6$Zq9Secret$hash:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n'

  it('JSONL: errors name the lines, never their text', () => {
    const file = datasetFile('shadow', secret)
    const error = errorOf(() => readDataset(file))
    expect(error.message).toContain(`${file}:1: invalid JSON (an unexpected character)`)
    expect(error.message).toContain(`${file}:2: invalid JSON`)
    expect(error.message).not.toMatch(/root|Secret|daemon|\$6\$/)
  })

  it('JSON: a file that does not parse is named with the line of the mistake, without its text', () => {
    const file = datasetFile('secret.json', '[\n  {"password": hunter2}\n]')
    const error = errorOf(() => readDataset(file))
    expect(error.message).not.toContain('hunter2')
    const object = datasetFile('secret2.json', '[{"a": 1} {"b": "hunter2"}]')
    const second = errorOf(() => readDataset(object))
    expect(second.message).toBe(`${object}:1: is not valid JSON (expected ',' or ']' after an array element)`)
  })

  it('evaluation sets: the same', () => {
    const file = datasetFile('shadow-eval', secret)
    expect(errorOf(() => readEvalSet(file)).message).not.toMatch(/root|Secret|daemon/)
  })
})
