/**
 * Synthetic but word-like text: a few thousand made-up words built from
 * syllables, drawn with Zipf-like frequencies (as in real text, a few words
 * are everywhere and most are rare), in sentences with capitals,
 * punctuation, numbers and paragraphs. Seeded, so every run sees the same text.
 */
export function wordyCorpus(options: { bytes: number; seed?: number; words?: number }): string[] {
  const random = mulberry32(options.seed ?? 1)
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!
  const onsets = ['', 'b', 'c', 'd', 'f', 'g', 'h', 'l', 'm', 'n', 'p', 'r', 's', 't', 'v', 'w', 'st', 'tr', 'ch', 'sh', 'th', 'pl', 'gr']
  const vowels = ['a', 'e', 'i', 'o', 'u', 'ea', 'ou', 'ai', 'io']
  const codas = ['', '', 'n', 'r', 's', 't', 'l', 'nd', 'st', 'ng', 'ck']
  const suffixes = ['', '', '', 's', 'ed', 'ing', 'ly', 'tion', 'ment', 'er']
  const lexicon: string[] = []
  const known = new Set<string>()
  while (lexicon.length < (options.words ?? 5000)) {
    let word = ''
    const syllables = 1 + Math.floor(random() * 3)
    for (let s = 0; s < syllables; s++) word += pick(onsets) + pick(vowels) + pick(codas)
    word += pick(suffixes)
    if (!known.has(word)) {
      known.add(word)
      lexicon.push(word)
    }
  }
  // Zipf: the word of rank r is drawn with weight 1/r.
  const cumulative: number[] = []
  let total = 0
  for (let r = 1; r <= lexicon.length; r++) cumulative.push((total += 1 / r))
  const drawWord = (): string => {
    const x = random() * total
    let lo = 0
    let hi = cumulative.length - 1
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (cumulative[mid]! < x) lo = mid + 1
      else hi = mid
    }
    return lexicon[lo]!
  }

  const paragraphs: string[] = []
  let size = 0
  while (size < options.bytes) {
    const sentences: string[] = []
    const count = 2 + Math.floor(random() * 5)
    for (let s = 0; s < count; s++) {
      const words: string[] = []
      const length = 4 + Math.floor(random() * 14)
      for (let w = 0; w < length; w++) {
        const roll = random()
        if (roll < 0.03) words.push(String(Math.floor(random() * 2000)))
        else words.push(drawWord() + (roll > 0.93 ? ',' : ''))
      }
      const first = words[0]!
      words[0] = first.charAt(0).toUpperCase() + first.slice(1)
      sentences.push(words.join(' ') + pick(['.', '.', '.', '?', '!', ';']))
    }
    const paragraph = sentences.join(' ') + '\n\n'
    paragraphs.push(paragraph)
    size += paragraph.length
  }
  return paragraphs
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
