import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadTokenizer } from '../../../../src-main/engine/tokenizer/tokenizer'
import { trainingSource } from '../../../../src-main/engine/train/data-source'
import { PreviewInputError, previewTuneDataset } from '../../../../src-main/engine/train/dataset-preview'
import { countedTargets } from '../../../../src-main/engine/train/trainer'
import { openTuneData } from '../../../../src-main/engine/train/tune-data'
import { writeTinyTextModel } from '../../../fixtures/fixtures'

const root = mkdtempSync(join(tmpdir(), 'dataset-preview-'))
const plain = join(root, 'plain')
const chat = join(root, 'chat')
afterAll(() => rmSync(root, { recursive: true, force: true }))

function file(name: string, lines: unknown[]): string {
  const path = join(root, name)
  writeFileSync(path, `${lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n')}\n`)
  return path
}

beforeAll(() => {
  writeTinyTextModel(plain, { seed: 1 })
  writeTinyTextModel(chat, { seed: 2 })
  // A chat template whose turns end with </s>, so the response runs through it.
  const template = "{% for m in messages %}<s>{{ m.role }}: {{ m.content }}</s>{% endfor %}{% if add_generation_prompt %}<s>assistant: {% endif %}"
  writeFileSync(join(chat, 'tokenizer_config.json'), JSON.stringify({ eos_token: '</s>', bos_token: '<s>', chat_template: template }))
})

const alpaca = [
  { instruction: 'say hi', input: '', output: 'hi hi' },
  { instruction: 'greet', input: 'twice', output: 'hi' },
  { instruction: 'long', output: 'hi '.repeat(40) },
  { conversations: 'wrong' },
  { instruction: 'answer', output: 'ok' },
]

/**
 * Per token, whether the trainer takes a loss on it, read from the batches it
 * is fed (the data module's masking, unshuffled, one record per batch) with
 * the trainer's own rule (countedTargets: a label, at a position after the first).
 */
function trainedByTrainer(modelPath: string, dataPath: string, seqLen: number): boolean[][] {
  const { dataset } = openTuneData(modelPath, dataPath, { seqLen, onError: 'skip', vocabSize: 1000 })
  const source = trainingSource(dataset.records, { batchSize: 1, seqLen, seed: 0, shuffle: false })
  return dataset.records.map((record, i) => {
    const { labels } = source.batch(0, i)
    const flags = Array.from({ length: record.inputIds.length }, (_, t) => t > 0 && labels[t] !== -100n)
    expect(flags.filter(Boolean).length).toBe(countedTargets(labels, 1, seqLen))
    return flags
  })
}

function trainedInPreview(segments: { trained: boolean; tokens: number }[]): boolean[] {
  return segments.flatMap((s) => new Array<boolean>(s.tokens).fill(s.trained))
}

describe('dataset preview', () => {
  for (const [name, model] of [['the Alpaca prompt', plain], ['a chat template', chat]] as const) {
    it(`marks exactly the tokens the trainer learns, with ${name}`, () => {
      const data = file(`alpaca-${name.length}.jsonl`, alpaca)
      const preview = previewTuneDataset({ modelPath: model, dataPath: data, seqLen: 48, limit: 10 })
      const expected = trainedByTrainer(model, data, 48)
      expect(preview.records).toHaveLength(4)
      expect(preview.records.map((r) => trainedInPreview(r.segments))).toEqual(expected)
      expect(preview.records.map((r) => r.line)).toEqual([1, 2, 3, 5])
      // The text is the record as formatted, decoded piece by piece.
      const tokenizer = loadTokenizer(model)!
      const { dataset } = openTuneData(model, data, { seqLen: 48, onError: 'skip', vocabSize: 1000 })
      preview.records.forEach((r, i) => expect(r.segments.map((s) => s.text).join('')).toBe(tokenizer.decode(dataset.records[i]!.inputIds)))
      expect(preview.template).toBe(model === chat ? 'chat-template' : 'alpaca')
    })
  }

  it('does not mark the first token, which nothing predicts, even when it is labelled', () => {
    const data = file('tokens.jsonl', [{ input_ids: [5, 6, 7] }])
    const preview = previewTuneDataset({ modelPath: plain, dataPath: data, seqLen: 8, limit: 1 })
    expect(preview.records[0]!.segments.map((s) => [s.trained, s.tokens])).toEqual([[false, 1], [true, 2]])
    expect(trainedInPreview(preview.records[0]!.segments)).toEqual(trainedByTrainer(plain, data, 8)[0])
  })

  it('counts records, tokens and truncations after the cut to seqLen', () => {
    const data = file('stats.jsonl', alpaca)
    const preview = previewTuneDataset({ modelPath: plain, dataPath: data, seqLen: 48, limit: 2 })
    const { dataset } = openTuneData(plain, data, { seqLen: 48, onError: 'skip', vocabSize: 1000 })
    const lengths = dataset.records.map((r) => r.inputIds.length)
    expect(preview.records).toHaveLength(2)
    expect(preview.format).toBe('alpaca-jsonl')
    expect(preview.stats).toEqual({
      records: 4,
      tokens: lengths.reduce((a, b) => a + b, 0),
      meanTokens: lengths.reduce((a, b) => a + b, 0) / 4,
      maxTokens: 48,
      trainedTokens: trainedByTrainer(plain, data, 48).flat().filter(Boolean).length,
      truncated: 1,
      dropped: 0,
      skipped: 1,
    })
  })

  it('reports every malformed record with its line and field', () => {
    const data = file('bad.jsonl', [alpaca[0], { instruction: 'x', output: 5 }, 'not json', { instruction: 'y' }, alpaca[1]])
    const preview = previewTuneDataset({ modelPath: plain, dataPath: data, seqLen: 48, limit: 5 })
    expect(preview.fatal).toBeNull()
    expect(preview.errorCount).toBe(3)
    expect(preview.errors).toEqual([
      { line: 2, index: null, field: 'output', message: 'expected a string, got number' },
      { line: 3, index: null, field: null, message: expect.stringContaining('invalid JSON') },
      { line: 4, index: null, field: 'output', message: 'missing' },
    ])
    expect(preview.stats?.records).toBe(2)
  })

  it('lists problems up to a cap and counts them all', () => {
    const data = file('many.jsonl', [alpaca[0], ...Array.from({ length: 250 }, () => ({ instruction: 'x' }))])
    const preview = previewTuneDataset({ modelPath: plain, dataPath: data, seqLen: 48, limit: 1 })
    expect(preview.errors).toHaveLength(200)
    expect(preview.errorCount).toBe(250)
  })

  it('says why nothing can be trained on, with the problems, instead of failing', () => {
    const data = file('none.jsonl', [{ instruction: 'x' }, { instruction: 'y', output: [] }])
    const preview = previewTuneDataset({ modelPath: plain, dataPath: data, seqLen: 48, limit: 5 })
    expect(preview.stats).toBeNull()
    expect(preview.fatal).toContain('nothing to train on')
    expect(preview.errors.map((e) => [e.line, e.field])).toEqual([[1, 'output'], [2, 'output']])
    const missing = previewTuneDataset({ modelPath: plain, dataPath: join(root, 'absent.jsonl'), seqLen: 48, limit: 5 })
    expect(missing.fatal).toContain('cannot be read')
  })

  it('names the model folder when it is not one', () => {
    const data = file('ok.jsonl', [alpaca[0]])
    expect(() => previewTuneDataset({ modelPath: root, dataPath: data, seqLen: 48, limit: 1 })).toThrow(PreviewInputError)
    expect(() => previewTuneDataset({ modelPath: root, dataPath: data, seqLen: 48, limit: 1 })).toThrow(/config\.json does not exist/)
  })
})
