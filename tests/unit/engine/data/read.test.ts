import { describe, expect, it } from 'vitest'
import { DatasetError, formatProblem, parseDatasetText, readDataset } from '../../../../src-main/engine/data'
import type { ReadOptions } from '../../../../src-main/engine/data'
import { datasetFile, jsonl } from './fixtures'

const ALPACA = [
  { instruction: 'Name a colour.', input: '', output: 'Blue.' },
  { instruction: 'Translate.', input: 'chat', output: 'cat' },
]
const SHAREGPT = [
  {
    conversations: [
      { from: 'system', value: 'Be brief.' },
      { from: 'human', value: 'Hi' },
      { from: 'gpt', value: 'Hello.' },
    ],
  },
]
const MESSAGES = [
  {
    messages: [
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello.' },
    ],
  },
]

/** Every problem of a failed read under 'stop', as the user reads them. */
function problemsOf(file: string, options: ReadOptions = {}): string[] {
  try {
    readDataset(file, { ...options, onError: 'stop' })
  } catch (err) {
    if (err instanceof DatasetError) return err.problems.map(formatProblem)
    throw err
  }
  throw new Error('expected a DatasetError')
}

describe('reading each format', () => {
  it('reads Alpaca from a JSON array; an empty input counts as none', () => {
    const file = datasetFile('alpaca.json', ALPACA)
    const read = readDataset(file)
    expect(read).toMatchObject({ format: 'alpaca', layout: 'json', skipped: [] })
    expect(read.records).toEqual([
      { kind: 'instruction', source: { file, index: 0 }, instruction: 'Name a colour.', output: 'Blue.' },
      { kind: 'instruction', source: { file, index: 1 }, instruction: 'Translate.', input: 'chat', output: 'cat' },
    ])
  })

  it('reads Alpaca from JSON lines, skipping blank lines and keeping line numbers', () => {
    const file = datasetFile('alpaca.jsonl', `${JSON.stringify(ALPACA[0])}\n\n   \r\n${JSON.stringify(ALPACA[1])}\r\n`)
    const read = readDataset(file)
    expect(read).toMatchObject({ format: 'alpaca', layout: 'jsonl' })
    expect(read.records.map((r) => r.source)).toEqual([
      { file, line: 1 },
      { file, line: 4 },
    ])
  })

  it('reads ShareGPT conversations (JSON or JSONL) as system/user/assistant messages', () => {
    const expected = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello.' },
    ]
    for (const file of [datasetFile('sharegpt.json', SHAREGPT), datasetFile('sharegpt.jsonl', jsonl(...SHAREGPT))]) {
      const read = readDataset(file)
      expect(read.format).toBe('sharegpt')
      expect(read.records).toMatchObject([{ kind: 'conversation', messages: expected }])
    }
  })

  it('reads OpenAI-style messages (JSON or JSONL)', () => {
    for (const file of [datasetFile('chat.json', MESSAGES), datasetFile('chat.jsonl', jsonl(...MESSAGES))]) {
      const read = readDataset(file)
      expect(read.format).toBe('messages')
      expect(read.records).toMatchObject([{ kind: 'conversation', messages: MESSAGES[0]!.messages }])
    }
  })

  it('reads pre-tokenized records unshifted, labels defaulting to a copy of the ids', () => {
    const file = datasetFile('tokens.jsonl', jsonl({ input_ids: [5, 6, 7], labels: [-100, 6, 7] }, { input_ids: [8, 9] }))
    const read = readDataset(file)
    expect(read.format).toBe('tokenized')
    expect(read.records).toMatchObject([
      { kind: 'tokens', inputIds: [5, 6, 7], labels: [-100, 6, 7] },
      { kind: 'tokens', inputIds: [8, 9], labels: [8, 9] },
    ])
  })

  it('detects the layout from the content, whatever the extension says', () => {
    expect(readDataset(datasetFile('lines.json', jsonl(...ALPACA))).layout).toBe('jsonl')
    expect(readDataset(datasetFile('array.jsonl', ALPACA)).layout).toBe('json')
  })
})

describe('format overrides', () => {
  it('reads a record with fields of two formats as the format it is told', () => {
    const text = jsonl({ instruction: 'x', output: 'y', messages: 'not a list' })
    // Detected as messages, by its "messages" field…
    expect(parseDatasetText(text, 'd.jsonl').invalid[0]?.problems.map(formatProblem)).toEqual([
      'd.jsonl:1: field "messages": expected an array, got string',
    ])
    expect(parseDatasetText(text, 'd.jsonl', { format: 'alpaca' }).records).toHaveLength(1)
  })

  it('reads a JSON array as JSONL when told, so each line is a record', () => {
    const text = jsonl(...ALPACA)
    expect(parseDatasetText(text, 'd.json', { layout: 'jsonl' }).records).toHaveLength(2)
    expect(() => parseDatasetText(text, 'd.json', { layout: 'json' })).toThrow(DatasetError)
  })

  it('names the fields it found when it cannot tell the format', () => {
    const file = datasetFile('odd.jsonl', jsonl({ prompt: 'x', completion: 'y' }))
    expect(() => readDataset(file)).toThrow(/cannot tell the dataset format .*"prompt", "completion"/)
  })
})

describe('malformed records are reported with file, line or index, and field', () => {
  it('Alpaca: wrong types and missing fields, in JSONL and JSON', () => {
    const lines = jsonl(
      { instruction: 'ok', output: 'fine' },
      { instruction: 'a', output: 3 },
      { output: 'no instruction' },
      { instruction: 'a', input: ['x'], output: 'y' },
      'a string',
    )
    const file = datasetFile('data.jsonl', lines)
    expect(problemsOf(file)).toEqual([
      `${file}:2: field "output": expected a string, got number`,
      `${file}:3: field "instruction": missing`,
      `${file}:4: field "input": expected a string, got array`,
      `${file}:5: expected a JSON object (a record), got string`,
    ])
    const array = datasetFile('data.json', [{ instruction: 'ok', output: 'fine' }, { instruction: null, output: 'y' }])
    expect(problemsOf(array)).toEqual([`${array}[1]: field "instruction": expected a string, got null`])
  })

  it('JSONL: a line that is not JSON is an error for that line', () => {
    const file = datasetFile('data.jsonl', `${JSON.stringify(ALPACA[0])}\n{"instruction": "a", "output": \n`)
    const problems = problemsOf(file)
    expect(problems).toHaveLength(1)
    expect(problems[0]).toMatch(new RegExp(`^${file}:2: invalid JSON \\(`))
  })

  it('JSON: a file that does not parse names the line of the mistake', () => {
    const file = datasetFile('data.json', '[\n  {"instruction": "a", "output": "b"},\n  {"instruction": "a" "output": "b"}\n]')
    expect(() => readDataset(file)).toThrow(new RegExp(`^${file}:3: is not valid JSON`))
  })

  it('ShareGPT: unknown roles, non-string values, no turns, no gpt turn', () => {
    const file = datasetFile('sharegpt.json', [
      { conversations: [{ from: 'human', value: 'hi' }, { from: 'assistant', value: 'hello' }] },
      { conversations: [{ from: 'human', value: 'hi' }, { from: 'gpt', value: 42 }] },
      { conversations: [] },
      { conversations: [{ from: 'human', value: 'hi' }] },
      { conversation: [] },
    ])
    expect(problemsOf(file)).toEqual([
      `${file}[0]: field "conversations[1].from": expected one of "human", "gpt", "system", got "assistant"`,
      `${file}[1]: field "conversations[1].value": expected a string, got number`,
      `${file}[2]: field "conversations": must not be empty`,
      `${file}[3]: field "conversations": has no "gpt" turn, so nothing to learn`,
      `${file}[4]: field "conversations": missing`,
    ])
  })

  it('messages: unknown roles, missing content, no assistant message', () => {
    const file = datasetFile('chat.jsonl', jsonl(
      { messages: [{ role: 'human', content: 'hi' }, { role: 'assistant', content: 'hello' }] },
      { messages: [{ role: 'user', content: 'hi' }, { role: 'assistant' }] },
      { messages: [{ role: 'user', content: 'hi' }] },
      { messages: 'hi' },
    ))
    expect(problemsOf(file)).toEqual([
      `${file}:1: field "messages[0].role": expected one of "system", "user", "assistant", got "human"`,
      `${file}:2: field "messages[1].content": missing`,
      `${file}:3: field "messages": has no "assistant" message, so nothing to learn`,
      `${file}:4: field "messages": expected an array, got string`,
    ])
  })

  it('pre-tokenized: bad ids, misaligned labels, ids outside the vocabulary', () => {
    const file = datasetFile('tokens.jsonl', jsonl(
      { input_ids: [1, 2, 3], labels: [1, 2] },
      { input_ids: [1, -2, 3] },
      { input_ids: [1, 2.5] },
      { input_ids: [1, 2], labels: [-100, -7] },
      { input_ids: [] },
      { input_ids: [1, 2, 99], labels: [-100, 2, 99] },
      { labels: [1] },
    ))
    expect(problemsOf(file, { vocabSize: 50 })).toEqual([
      `${file}:1: field "labels": has 2 entries but input_ids has 3; labels must be aligned with input_ids`,
      `${file}:2: field "input_ids[1]": expected a token id (a whole number ≥ 0), got -2`,
      `${file}:3: field "input_ids[1]": expected a token id (a whole number ≥ 0), got 2.5`,
      `${file}:4: field "labels[1]": expected a token id or -100, got -7`,
      `${file}:5: field "input_ids": must not be empty`,
      `${file}:6: field "input_ids[2]": id 99 is outside the vocabulary (size 50)`,
      `${file}:6: field "labels[2]": id 99 is outside the vocabulary (size 50)`,
      `${file}:7: field "input_ids": missing`,
    ])
  })
})

describe('error policy', () => {
  const lines = jsonl(
    { instruction: 'a', output: 'b' },
    { instruction: 'a', output: 1 },
    { instruction: 'c', output: 'd' },
    { instruction: 2, output: null },
  )

  it("'stop' throws one DatasetError listing every problem, and imports nothing", () => {
    const file = datasetFile('data.jsonl', lines)
    let error: unknown
    try {
      readDataset(file, { onError: 'stop' })
    } catch (err) {
      error = err
    }
    expect(error).toBeInstanceOf(DatasetError)
    const { message, total } = error as DatasetError
    expect(total).toBe(3)
    expect(message).toContain('3 problems')
    expect(message).toContain(`${file}:2: field "output": expected a string, got number`)
    expect(message).toContain(`${file}:4: field "instruction": expected a string, got number`)
    expect(message).toContain(`${file}:4: field "output": expected a string, got null`)
  })

  it("'skip' returns the good records and each skipped one with its reasons", () => {
    const file = datasetFile('data.jsonl', lines)
    const read = readDataset(file, { onError: 'skip' })
    expect(read.records.map((r) => r.source.line)).toEqual([1, 3])
    expect(read.skipped.map((s) => [s.line, s.problems.map((p) => p.field)])).toEqual([
      [2, ['output']],
      [4, ['instruction', 'output']],
    ])
  })

  it('lists the first 50 problems and counts the rest', () => {
    const bad = Array.from({ length: 120 }, () => ({ instruction: 'a', output: 0 }))
    const file = datasetFile('data.json', [{ instruction: 'a', output: 'b' }, ...bad])
    try {
      readDataset(file)
      expect.unreachable()
    } catch (err) {
      const error = err as DatasetError
      expect(error.total).toBe(120)
      expect(error.problems).toHaveLength(50)
      expect(error.message).toContain('… and 70 more problems')
      expect(error.message.split('\n')).toHaveLength(1 + 50 + 1)
    }
  })

  it('refuses a dataset without a single valid record, under either policy', () => {
    const file = datasetFile('data.jsonl', jsonl({ instruction: 'a', output: 1 }))
    expect(() => readDataset(file, { onError: 'skip' })).toThrow(/nothing to train on: no valid records \(1 skipped\)/)
    expect(() => readDataset(datasetFile('empty.jsonl', '\n \n'))).toThrow(/is empty/)
    expect(() => readDataset(datasetFile('empty.json', '[]'))).toThrow(/nothing to train on/)
  })

  it('refuses a file in which no line is JSON, listing the lines', () => {
    const file = datasetFile('data.jsonl', 'instruction: a\noutput: b\n')
    expect(() => readDataset(file, { onError: 'skip' })).toThrow(new RegExp(`no line is valid JSON\\n  ${file}:1: invalid JSON[^]*\\n  ${file}:2: invalid JSON`))
  })

  it('names the file it cannot read', () => {
    expect(() => readDataset('/nonexistent/data.jsonl')).toThrow(/^\/nonexistent\/data.jsonl: cannot be read/)
  })

  it('explains a single JSON object spread over lines instead of reporting each line', () => {
    const file = datasetFile('one.json', { instruction: 'a', output: 'b' })
    expect(() => readDataset(file)).toThrow(/holds a single JSON object/)
  })
})
