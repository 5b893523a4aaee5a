import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseDataLine, parseIndexLine, readDataFile, readWordNet, splitGloss, WordNetParseError } from '../../../../../src-main/engine/data/wordnet/reader'
import { DATA_ADJ, DATA_NOUN, DATA_VERB, writeFixtureDict } from './fixtures'

const at = { file: 'data.noun', line: 1 }

describe('parseDataLine', () => {
  it('skips licence header lines and blank lines', () => {
    expect(parseDataLine(DATA_NOUN[0]!, at)).toBeUndefined()
    expect(parseDataLine('', at)).toBeUndefined()
  })

  it('reads a noun synset with lemmas, definition, example and hypernym', () => {
    expect(parseDataLine(DATA_NOUN[4]!, at)).toEqual({
      offset: 3000,
      pos: 'noun',
      satellite: false,
      lemmas: ['car', 'auto', 'automobile', 'machine', 'motorcar'],
      definition: 'a motor vehicle with four wheels; usually propelled by an internal combustion engine',
      examples: ['he needs a car to get to work'],
      hypernyms: [{ offset: 2000, pos: 'noun' }],
      instanceOf: [],
      antonyms: [],
      similar: [],
    })
  })

  it('reads an @i pointer as an instance, not a hypernym, and turns underscores into spaces', () => {
    const einstein = parseDataLine(DATA_NOUN[6]!, at)!
    expect(einstein.lemmas).toEqual(['Einstein', 'Albert Einstein'])
    expect(einstein.instanceOf).toEqual([{ offset: 7000, pos: 'noun' }])
    expect(einstein.hypernyms).toEqual([])
    expect(einstein.examples).toEqual(["Einstein's theory of relativity"])
  })

  it('reads lexical antonyms with their word indices, and similar-to pointers', () => {
    const able = parseDataLine(DATA_ADJ[3]!, at)!
    expect(able.pos).toBe('adjective')
    expect(able.antonyms).toEqual([{ offset: 2098, pos: 'adjective', sourceWord: 1, targetWord: 1 }])
    expect(able.similar).toEqual([{ offset: 2200, pos: 'adjective' }])
    expect(able.definition).toBe("(usually followed by `to') having the necessary means or skill or know-how or authority to do something")
    expect(able.examples).toEqual(['able to swim', 'she was able to program her computer'])
  })

  it('reads a satellite adjective with a hex word count of 0a and strips the (p) marker', () => {
    const aglitter = parseDataLine(DATA_ADJ[5]!, at)!
    expect(aglitter.pos).toBe('adjective')
    expect(aglitter.satellite).toBe(true)
    expect(aglitter.lemmas).toHaveLength(10)
    expect(aglitter.lemmas[0]).toBe('aglitter')
    expect(aglitter.lemmas[9]).toBe('sparkly')
  })

  it('reads past verb frames to the gloss', () => {
    const drive = parseDataLine(DATA_VERB[3]!, at)!
    expect(drive).toMatchObject({ pos: 'verb', lemmas: ['drive'], hypernyms: [{ offset: 5100, pos: 'verb' }], definition: 'operate or control a vehicle', examples: ['drive a car or bus'] })
  })

  it('names the file and line of a malformed line', () => {
    expect(() => parseDataLine('00003000 06 n zz car 0 000 | a car', { file: 'data.noun', line: 42 })).toThrow(/^data\.noun:42: word count: expected a hex number, got "zz"$/)
    expect(() => parseDataLine('00003000 06 n 02 car 0 000 | a car', { file: 'data.noun', line: 7 })).toThrow(WordNetParseError)
    expect(() => parseDataLine('00003000 06 n 01 car 0 000 a car', { file: 'data.noun', line: 9 })).toThrow(/data\.noun:9: no " \| "/)
    expect(() => parseDataLine('00003000 06 n 01 car 0 001 @ 00002000 n 0000 extra | a car', { file: 'data.noun', line: 3 })).toThrow(/data\.noun:3:/)
  })

  it('reports the line number within a file read from disk', () => {
    const { dictDir } = writeFixtureDict()
    const path = join(dictDir, 'broken.noun')
    writeFileSync(path, [...DATA_NOUN.slice(0, 5), '00004000 06 n 01 bicycle 0 001 @ 00002000 x 0000 | a bike'].join('\n'))
    expect(() => readDataFile(path)).toThrow(`${path}:6: pointer 1: unknown part of speech "x"`)
  })
})

describe('splitGloss', () => {
  it('keeps a gloss without examples whole', () => {
    expect(splitGloss('a scientist trained in physics  ')).toEqual({ definition: 'a scientist trained in physics', examples: [] })
  })
})

describe('parseIndexLine', () => {
  it('reads the synset offsets after the pointer symbols, most frequent sense first', () => {
    expect(parseIndexLine('bank n 10 5 @ ~ #m %p + 10 4 09236472 08437235 09236341 08479077 13389491 13377435 09236735 04146942 02790795 00170126  ', at)).toEqual({
      lemma: 'bank',
      pos: 'noun',
      offsets: [9236472, 8437235, 9236341, 8479077, 13389491, 13377435, 9236735, 4146942, 2790795, 170126],
    })
  })
})

describe('readWordNet', () => {
  it('reads every part of speech and orders a lemma\'s senses by the index', () => {
    const wordnet = readWordNet(writeFixtureDict().dictDir)
    expect(wordnet.synsets.map((s) => s.pos)).toEqual(['noun', 'noun', 'noun', 'noun', 'noun', 'noun', 'noun', 'verb', 'verb', 'adjective', 'adjective', 'adjective', 'adverb'])
    expect(wordnet.senses.get('noun:bank')).toEqual(['noun:9000', 'noun:8000'])
    expect(wordnet.senses.get('noun:albert einstein')).toEqual(['noun:6000'])
    expect(wordnet.byId.get('adjective:2200')?.lemmas[0]).toBe('aglitter')
  })
})
