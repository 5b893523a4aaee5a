import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { AlpacaRecord, TaskName } from '../../../../../src-main/engine/data/wordnet/corpus'
import { buildCorpus, corpusSizes, lemmaSplit, pretrainText, TASK_NAMES, writeCorpus } from '../../../../../src-main/engine/data/wordnet/corpus'
import { readWordNet } from '../../../../../src-main/engine/data/wordnet/reader'
import { LICENSE_TEXT, writeFixtureDict } from './fixtures'

/** Everything in train: the fixture is too small for a held-out share. */
const allTrain = { validationFraction: 0, testFraction: 0 }

function recordFor(task: TaskName, lemma: string): AlpacaRecord[] {
  const corpus = buildCorpus(readWordNet(writeFixtureDict().dictDir), allTrain)
  return corpus.splits.train.filter((e) => e.task === task && e.lemma === lemma).map((e) => e.record)
}

describe('instruction records', () => {
  it('define: the part of speech in the question, the definition as a sentence', () => {
    expect(recordFor('define', 'car')).toEqual([
      { instruction: 'Define the noun "car".', input: '', output: 'A motor vehicle with four wheels; usually propelled by an internal combustion engine.' },
    ])
  })

  it('define: several senses numbered, most frequent first', () => {
    expect(recordFor('define', 'bank')[0]!.output).toBe(
      '1. A financial institution that accepts deposits and channels the money into lending activities.\n2. Sloping land (especially the slope beside a body of water).',
    )
  })

  it('synonyms: the other lemmas of the word\'s synsets', () => {
    expect(recordFor('synonyms', 'car')).toEqual([{ instruction: 'Give synonyms for the noun "car".', input: '', output: 'auto, automobile, machine, motorcar' }])
  })

  it('antonym: follows the lexical pointer to the target word', () => {
    expect(recordFor('antonym', 'able')).toEqual([{ instruction: 'Give an antonym of the adjective "able".', input: '', output: 'The opposite of "able" is "unable".' }])
  })

  it('sentence: an example that contains the word, as a sentence', () => {
    expect(recordFor('sentence', 'car')).toEqual([{ instruction: 'Use the word "car" in a sentence.', input: '', output: 'He needs a car to get to work.' }])
    // "able to swim" is too short to stand as a sentence; the next example is used.
    expect(recordFor('sentence', 'able')[0]!.output).toBe('She was able to program her computer.')
  })

  it('hypernym: a kind of, an instance of, a way to', () => {
    expect(recordFor('hypernym', 'car')).toEqual([{ instruction: 'What is "car" a kind of?', input: '', output: 'A car is a kind of vehicle.' }])
    expect(recordFor('hypernym', 'einstein')).toEqual([{ instruction: 'What is "Einstein"?', input: '', output: 'Einstein is a physicist.' }])
    expect(recordFor('hypernym', 'drive')).toEqual([{ instruction: 'What more general verb describes "drive"?', input: '', output: 'To drive is a way to travel.' }])
  })

  it('hyponyms: names the kinds of a noun', () => {
    expect(recordFor('hyponyms', 'vehicle')).toEqual([{ instruction: 'Name some kinds of vehicle.', input: '', output: 'Kinds of vehicle include car and bicycle.' }])
  })

  it('partOfSpeech: one answer per word, across parts of speech', () => {
    expect(recordFor('partOfSpeech', 'aglitter')).toEqual([{ instruction: 'What part of speech is "aglitter"?', input: '', output: '"aglitter" is an adjective.' }])
  })

  it('makes every task type from the fixture', () => {
    const corpus = buildCorpus(readWordNet(writeFixtureDict().dictDir), allTrain)
    expect(new Set(corpus.splits.train.map((e) => e.task))).toEqual(new Set(TASK_NAMES))
  })
})

describe('pretraining text', () => {
  it('one line per synset: headwords, part of speech, definition, examples', () => {
    const wordnet = readWordNet(writeFixtureDict().dictDir)
    expect(pretrainText(wordnet.byId.get('noun:3000')!)).toBe(
      'car, auto, automobile, machine, motorcar (noun): a motor vehicle with four wheels; usually propelled by an internal combustion engine. Example: "he needs a car to get to work".',
    )
    expect(pretrainText(wordnet.byId.get('noun:7000')!)).toBe('physicist (noun): a scientist trained in physics.')
    const corpus = buildCorpus(wordnet, allTrain)
    expect(corpus.pretrain.map((d) => d.synset)).toEqual(wordnet.synsets.map((s) => `${s.pos}:${s.offset}`))
  })
})

describe('lemmaSplit', () => {
  it('is deterministic, case-blind, and near the requested shares', () => {
    const counts = { train: 0, validation: 0, test: 0 }
    for (let i = 0; i < 20000; i++) counts[lemmaSplit(`word${i}`)]++
    expect(counts.validation / 20000).toBeCloseTo(0.05, 1)
    expect(counts.test / 20000).toBeCloseTo(0.05, 1)
    expect(lemmaSplit('Apple')).toBe(lemmaSplit('apple'))
    const firstRun = Array.from({ length: 100 }, (_, i) => lemmaSplit(`w${i}`, { seed: 7 }))
    expect(Array.from({ length: 100 }, (_, i) => lemmaSplit(`w${i}`, { seed: 7 }))).toEqual(firstRun)
    expect(Array.from({ length: 100 }, (_, i) => lemmaSplit(`w${i}`, { seed: 8 }))).not.toEqual(firstRun)
  })

  it('rejects fractions that leave nothing for training', () => {
    expect(() => lemmaSplit('x', { validationFraction: 0.5, testFraction: 0.5 })).toThrow(RangeError)
  })
})

describe('writeCorpus', () => {
  it('writes pretraining text, three Alpaca JSONL splits and the WordNet licence', () => {
    const { dictDir } = writeFixtureDict()
    const out = join(mkdtempSync(join(tmpdir(), 'wordnet-corpus-')), 'corpus')
    const { sizes, files } = writeCorpus(out, { dictDir, ...allTrain })
    expect(files.map((f) => f.slice(out.length + 1))).toEqual(['pretrain.txt', 'train.jsonl', 'validation.jsonl', 'test.jsonl', 'wordnet-LICENSE'])
    expect(readFileSync(join(out, 'wordnet-LICENSE'), 'utf8')).toBe(LICENSE_TEXT)
    const pretrain = readFileSync(join(out, 'pretrain.txt'), 'utf8')
    expect(pretrain.split('\n').filter((l) => l !== '')).toHaveLength(sizes.pretrain.documents)
    expect(pretrain.length).toBe(sizes.pretrain.characters + sizes.pretrain.documents)
    const train = readFileSync(join(out, 'train.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as AlpacaRecord)
    expect(train).toHaveLength(sizes.splits.train.records)
    expect(Object.keys(train[0]!)).toEqual(['instruction', 'input', 'output'])
    expect(readFileSync(join(out, 'test.jsonl'), 'utf8')).toBe('')
  })

  it('caps counts deterministically for a smoke build', () => {
    const { dictDir } = writeFixtureDict()
    const options = { dictDir, ...allTrain, maxPerTask: 1, maxPretrainDocuments: 3 }
    const first = writeCorpus(mkdtempSync(join(tmpdir(), 'wordnet-corpus-')), options)
    const secondDir = mkdtempSync(join(tmpdir(), 'wordnet-corpus-'))
    const second = writeCorpus(secondDir, options)
    expect(first.sizes).toEqual(second.sizes)
    expect(first.sizes.pretrain.documents).toBe(3)
    for (const task of TASK_NAMES) expect(first.sizes.splits.train.byTask[task]).toBe(1)
    expect(readFileSync(first.files[1]!, 'utf8')).toBe(readFileSync(join(secondDir, 'train.jsonl'), 'utf8'))
  })

  it('refuses to write without the licence', () => {
    const { dictDir } = writeFixtureDict()
    expect(() => writeCorpus(mkdtempSync(join(tmpdir(), 'wordnet-corpus-')), { dictDir, licensePath: join(dictDir, 'missing') })).toThrow(/licence not found/)
  })

  it('sizes count records and characters per task', () => {
    const sizes = corpusSizes(buildCorpus(readWordNet(writeFixtureDict().dictDir), allTrain))
    expect(sizes.splits.train.records).toBe(Object.values(sizes.splits.train.byTask).reduce((a, b) => a + b, 0))
    expect(sizes.splits.validation).toEqual({ records: 0, characters: 0, byTask: Object.fromEntries(TASK_NAMES.map((t) => [t, 0])) })
    expect(existsSync(join(writeFixtureDict().root, 'LICENSE'))).toBe(true)
  })
})
