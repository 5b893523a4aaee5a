import { describe, expect, it } from 'vitest'
import { datasetStats, previewRecord, truncateRecords } from '../../../../src-main/engine/data'
import { byteModel, tokens } from './fixtures'

describe('truncation to the sequence length', () => {
  it('keeps the first seqLen tokens and counts the records it cut', () => {
    const short = tokens([1, 2, 3], 1)
    const long = tokens([1, 2, 3, 4, 5, 6], 2)
    const result = truncateRecords([short, long], 4)
    expect(result.truncated).toBe(1)
    expect(result.dropped).toBe(0)
    expect(result.records[0]).toBe(short)
    expect(result.records[1]).toMatchObject({ inputIds: [1, 2, 3, 4], labels: [-100, -100, 3, 4] })
  })

  it('drops records whose response is cut off entirely, and counts them', () => {
    const promptTooLong = tokens([1, 2, 3, 4, 5, 6], 4)
    const onlyFirstLabel = tokens([7, 8, 9], 0)
    onlyFirstLabel.labels = [7, -100, -100] // position 0 is never a target after the shift
    const kept = tokens([1, 2, 3], 2)
    const result = truncateRecords([promptTooLong, onlyFirstLabel, kept], 4)
    expect(result.records).toEqual([kept])
    expect(result).toMatchObject({ truncated: 1, dropped: 2 })
  })

  it('refuses a sequence length that leaves nothing to predict', () => {
    expect(() => truncateRecords([tokens([1, 2])], 1)).toThrow(RangeError)
  })
})

describe('statistics and preview', () => {
  it('counts records, tokens, response tokens and the longest record', () => {
    const stats = datasetStats([tokens([1, 2, 3], 1), tokens([1, 2, 3, 4, 5], 3)], { truncated: 1, dropped: 2, skipped: 3 })
    expect(stats).toEqual({ records: 2, tokens: 8, responseTokens: 4, longest: 5, truncated: 1, dropped: 2, skipped: 3 })
  })

  it('shows a record as text with its response spans marked', () => {
    const { tokenizer } = byteModel()
    const ids = [0, ...tokenizer.encode('hi', { addSpecialTokens: false }), ...tokenizer.encode(' hi hi', { addSpecialTokens: false }), 1]
    const record = tokens(ids, 2)
    const preview = previewRecord(record, tokenizer)
    expect(preview.segments).toEqual([
      { text: '<s>hi', response: false, tokens: 2 },
      { text: ' hi hi</s>', response: true, tokens: 3 },
    ])
    expect(preview.text).toBe('<s>hi hi hi</s>')
    expect(previewRecord(tokens([5, 6, 7], 1)).segments.map((s) => s.text)).toEqual(['[5]', '[6 7]'])
  })
})
