import { describe, expect, it } from 'vitest'
import { DatasetError, loadDataset } from '../../../../src-main/engine/data'
import { CHATML, byteModel, datasetFile, jsonl, learned } from './fixtures'

describe('loading a dataset for training', () => {
  const { tokenizer, formatter } = byteModel(CHATML)

  it('formats, masks, truncates and counts, with a preview of each record', () => {
    const file = datasetFile('chat.jsonl', jsonl(
      { messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hi hi' }] },
      { messages: [{ role: 'user', content: 'x'.repeat(40) }, { role: 'assistant', content: 'hi' }] },
      { messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'y'.repeat(40) }] },
    ))
    const data = loadDataset(file, { tokenizer, formatter, seqLen: 24 })
    expect(data.formatName).toBe('messages-jsonl')
    // The second record's response lies beyond 24 tokens; the third is cut inside its response.
    expect(data.records.map((r) => r.source.line)).toEqual([1, 3])
    expect(data.stats).toMatchObject({ records: 2, truncated: 2, dropped: 1, skipped: 0, longest: 24 })
    expect(data.stats.tokens).toBe(data.records[0]!.inputIds.length + 24)
    expect(data.stats.responseTokens).toBe(learned(data.records[0]!).length + learned(data.records[1]!).length)
    expect(data.previewRecord(0).segments.filter((s) => s.response).map((s) => s.text)).toEqual(['hi hi<|im_end|>'])
  })

  it('reports a record the chat template refuses, as a problem of that record', () => {
    const strict = "{% if messages[0]['role'] != 'user' %}{{ raise_exception('must start with the user') }}{% endif %}" + CHATML
    const model = byteModel(strict)
    const file = datasetFile('chat.jsonl', jsonl(
      { messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hi' }] },
      { messages: [{ role: 'assistant', content: 'hi' }] },
      { messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 3 }] },
    ))
    expect(() => loadDataset(file, { ...model, seqLen: 64 })).toThrow(new RegExp(`${file}:2: .*must start with the user[^]*${file}:3: field "messages\\[1\\].content"`))
    const skipped = loadDataset(file, { ...model, seqLen: 64, onError: 'skip' })
    expect(skipped.records).toHaveLength(1)
    expect(skipped.skipped.map((s) => s.line)).toEqual([2, 3])
    expect(skipped.stats.skipped).toBe(2)
  })

  it('checks pre-tokenized ids against the vocabulary, and needs no tokenizer for them', () => {
    const file = datasetFile('tokens.jsonl', jsonl({ input_ids: [1, 2, 3] }, { input_ids: [1, 2, 300] }))
    expect(() => loadDataset(file, { tokenizer, seqLen: 8 })).toThrow(`${file}:2: field "input_ids[2]": id 300 is outside the vocabulary (size ${tokenizer.vocabSize})`)
    const data = loadDataset(file, { seqLen: 8, onError: 'skip' })
    expect(data.records.map((r) => r.inputIds)).toEqual([[1, 2, 3], [1, 2, 300]])
    // No labels: every token is learned, except the first, which nothing predicts.
    expect(data.previewRecord(0).segments).toEqual([
      { text: '[1]', response: false, tokens: 1 },
      { text: '[2 3]', response: true, tokens: 2 },
    ])
  })

  it('needs the tokenizer for text records', () => {
    const file = datasetFile('alpaca.json', [{ instruction: 'a', output: 'b' }])
    expect(() => loadDataset(file, { seqLen: 8 })).toThrow(/needs the model's tokenizer/)
  })

  it('refuses a dataset that truncation leaves without any response', () => {
    const file = datasetFile('alpaca.json', [{ instruction: 'a long instruction', output: 'b' }])
    expect(() => loadDataset(file, { tokenizer, seqLen: 4 })).toThrow(DatasetError)
    expect(() => loadDataset(file, { tokenizer, seqLen: 4 })).toThrow(/left without a response token when cut to 4 tokens/)
  })
})
