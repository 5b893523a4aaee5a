/**
 * Byte-level BPE training (GPT-2 / Llama 3 style), written here rather than
 * taken from a library: @huggingface/tokenizers (the JS port the loader
 * uses) only encodes and decodes, and the npm packages that train BPE wrap
 * the Rust `tokenizers` crate as native binaries (the old `tokenizers`
 * 0.13 bindings), which this project does not install. The algorithm is the
 * one the Rust trainer uses: count words once, then repeatedly merge the
 * most frequent adjacent pair, updating pair counts only in the words that
 * contain it, with a lazily-updated max-heap to find the next pair.
 */
import { byteLevelWord, BYTE_LEVEL_SPLIT, BYTE_TO_CHAR } from './byte-level'

export interface TrainOptions {
  /** Size of the whole vocabulary: special tokens + 256 byte tokens + merges. */
  vocabSize: number
  /** A pair seen fewer times than this is never merged, even if the vocabulary then comes out smaller. Default 2. */
  minFrequency?: number
  /** Control tokens, given ids 0…k-1 in this order; text matching one is left out of training. */
  specialTokens: string[]
  /** Called every few hundred merges and once at the end. */
  onProgress?: (progress: { tokens: number; targetTokens: number }) => void
  /**
   * Also return how training left each distinct word split (byte-level
   * word → tokens): what the learned merges must reproduce when encoding.
   */
  keepSegmentations?: boolean
}

export interface TrainedBpe {
  /** Token → id: special tokens, then the 256 bytes in byte order, then merged tokens as learned. */
  vocab: Map<string, number>
  /** In the order learned, which is the order (rank) encoding applies them. */
  merges: [string, string][]
  /** Present when asked for with `keepSegmentations`. */
  segmentations?: Map<string, string[]>
}

// A pair of symbol ids packed into one number, as a Map key.
const PAIR_SHIFT = 2 ** 21
const pairKey = (a: number, b: number) => a * PAIR_SHIFT + b

export function trainByteLevelBpe(texts: Iterable<string>, options: TrainOptions): TrainedBpe {
  const { vocabSize, minFrequency = 2, specialTokens, onProgress } = options
  if (new Set(specialTokens).size !== specialTokens.length) throw new Error('special tokens must be distinct')
  const targetMerges = vocabSize - specialTokens.length - 256
  if (targetMerges < 0) {
    throw new Error(`vocabSize ${vocabSize} cannot hold ${specialTokens.length} special tokens and 256 byte tokens`)
  }
  if (vocabSize >= PAIR_SHIFT) throw new Error(`vocabSize must be below ${PAIR_SHIFT}`)

  // Distinct words with their counts; each word is a sequence of symbols,
  // which start as its UTF-8 bytes (symbol b is byte b).
  const wordCounts = countWords(texts, specialTokens)
  const utf8 = new TextEncoder()
  const words: number[][] = []
  const counts: number[] = []
  for (const [word, count] of wordCounts) {
    words.push(Array.from(utf8.encode(word)))
    counts.push(count)
  }
  const symbolText: string[] = [...BYTE_TO_CHAR]

  // How often each adjacent pair occurs, and which words (may be stale) hold it.
  const pairCounts = new Map<number, number>()
  const wordsWith = new Map<number, number[]>()
  const addPair = (key: number, by: number) => {
    const count = (pairCounts.get(key) ?? 0) + by
    if (count === 0) pairCounts.delete(key)
    else pairCounts.set(key, count)
  }
  const noteWord = (key: number, w: number) => {
    const list = wordsWith.get(key)
    if (list === undefined) wordsWith.set(key, [w])
    else if (list[list.length - 1] !== w) list.push(w)
  }
  words.forEach((word, w) => {
    for (let i = 0; i + 1 < word.length; i++) {
      const key = pairKey(word[i]!, word[i + 1]!)
      addPair(key, counts[w]!)
      noteWord(key, w)
    }
  })

  // Most frequent first; equal counts by the pair's text, so the same
  // corpus always gives the same merges whatever order it came in.
  const heap = new PairHeap((keyA, countA, keyB, countB) => {
    if (countA !== countB) return countA > countB
    const [a1, a2] = [Math.floor(keyA / PAIR_SHIFT), keyA % PAIR_SHIFT]
    const [b1, b2] = [Math.floor(keyB / PAIR_SHIFT), keyB % PAIR_SHIFT]
    const first = compareText(symbolText[a1]!, symbolText[b1]!)
    return first !== 0 ? first < 0 : compareText(symbolText[a2]!, symbolText[b2]!) < 0
  })
  for (const [key, count] of pairCounts) heap.push(key, count)

  const merges: [string, string][] = []
  const symbolOf = new Map(symbolText.map((text, symbol) => [text, symbol]))
  const seen = new Int32Array(words.length).fill(-1)
  while (symbolText.length - 256 < targetMerges && heap.size > 0) {
    const { key, count } = heap.pop()
    const current = pairCounts.get(key) ?? 0
    if (current !== count) {
      // A count that changed since the push: go back with the true count
      // (pairs that gained were also pushed afresh; their old entry is then
      // popped later as a duplicate and dropped, its count being 0).
      if (current > 0) heap.push(key, current)
      continue
    }
    if (count < minFrequency) break

    const a = Math.floor(key / PAIR_SHIFT)
    const b = key % PAIR_SHIFT
    // Two merges can spell the same token ("ab c", "a bc"); as in the Rust
    // trainer both are kept as merges, yielding one token.
    const text = symbolText[a]! + symbolText[b]!
    let merged = symbolOf.get(text)
    if (merged === undefined) {
      merged = symbolText.length
      symbolText.push(text)
      symbolOf.set(text, merged)
    }
    merges.push([symbolText[a]!, symbolText[b]!])

    // Every pair that gains from this merge contains the merged symbol:
    // collect those and push them once their counts are final.
    const created = new Set<number>()
    for (const w of wordsWith.get(key) ?? []) {
      if (seen[w] === merges.length) continue
      seen[w] = merges.length
      const word = words[w]!
      const next = mergeInWord(word, a, b, merged)
      if (next === undefined) continue
      const n = counts[w]!
      for (let i = 0; i + 1 < word.length; i++) addPair(pairKey(word[i]!, word[i + 1]!), -n)
      for (let i = 0; i + 1 < next.length; i++) {
        const pair = pairKey(next[i]!, next[i + 1]!)
        addPair(pair, n)
        if (next[i] === merged || next[i + 1] === merged) {
          created.add(pair)
          noteWord(pair, w)
        }
      }
      words[w] = next
    }
    wordsWith.delete(key)
    for (const pair of created) heap.push(pair, pairCounts.get(pair) ?? 0)

    if (merges.length % 256 === 0) onProgress?.({ tokens: specialTokens.length + symbolText.length, targetTokens: vocabSize })
  }
  onProgress?.({ tokens: specialTokens.length + symbolText.length, targetTokens: vocabSize })

  const vocab = new Map<string, number>()
  specialTokens.forEach((token, id) => vocab.set(token, id))
  symbolText.forEach((text, symbol) => vocab.set(text, specialTokens.length + symbol))
  if (vocab.size !== specialTokens.length + symbolText.length) {
    throw new Error('a special token has the same text as a learned token')
  }

  const result: TrainedBpe = { vocab, merges }
  if (options.keepSegmentations === true) {
    result.segmentations = new Map(
      [...wordCounts.keys()].map((word, w) => [byteLevelWord(word), words[w]!.map((s) => symbolText[s]!)]),
    )
  }
  return result
}

/** Distinct pre-tokenized words and how often each occurs, special tokens cut out. */
function countWords(texts: Iterable<string>, specialTokens: string[]): Map<string, number> {
  const specials =
    specialTokens.length === 0
      ? undefined
      : new RegExp(specialTokens.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'u')
  const counts = new Map<string, number>()
  for (const text of texts) {
    for (const part of specials === undefined ? [text] : text.split(specials)) {
      for (const match of part.matchAll(BYTE_LEVEL_SPLIT)) {
        counts.set(match[0], (counts.get(match[0]) ?? 0) + 1)
      }
    }
  }
  return counts
}

/** The word with each non-overlapping `a b`, left to right, replaced by `merged`; undefined when it has none. */
function mergeInWord(word: number[], a: number, b: number, merged: number): number[] | undefined {
  let out: number[] | undefined
  for (let i = 0; i < word.length; i++) {
    if (word[i] === a && word[i + 1] === b) {
      out ??= word.slice(0, i)
      out.push(merged)
      i++
    } else {
      out?.push(word[i]!)
    }
  }
  return out
}

function compareText(x: string, y: string): number {
  return x < y ? -1 : x > y ? 1 : 0
}

/** A binary max-heap of (pair, count), ordered by `before`. */
class PairHeap {
  private readonly keys: number[] = []
  private readonly counts: number[] = []

  constructor(private readonly before: (keyA: number, countA: number, keyB: number, countB: number) => boolean) {}

  get size(): number {
    return this.keys.length
  }

  push(key: number, count: number): void {
    this.keys.push(key)
    this.counts.push(count)
    let i = this.keys.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!this.above(i, parent)) break
      this.swap(i, parent)
      i = parent
    }
  }

  pop(): { key: number; count: number } {
    const top = { key: this.keys[0]!, count: this.counts[0]! }
    const lastKey = this.keys.pop()!
    const lastCount = this.counts.pop()!
    if (this.keys.length > 0) {
      this.keys[0] = lastKey
      this.counts[0] = lastCount
      let i = 0
      for (;;) {
        const left = 2 * i + 1
        const right = left + 1
        let best = i
        if (left < this.keys.length && this.above(left, best)) best = left
        if (right < this.keys.length && this.above(right, best)) best = right
        if (best === i) break
        this.swap(i, best)
        i = best
      }
    }
    return top
  }

  private above(i: number, j: number): boolean {
    return this.before(this.keys[i]!, this.counts[i]!, this.keys[j]!, this.counts[j]!)
  }

  private swap(i: number, j: number): void {
    ;[this.keys[i], this.keys[j]] = [this.keys[j]!, this.keys[i]!]
    ;[this.counts[i], this.counts[j]] = [this.counts[j]!, this.counts[i]!]
  }
}
