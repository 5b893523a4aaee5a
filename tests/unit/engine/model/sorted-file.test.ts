/**
 * Writing a calibration into a model folder's sorted.json: every other field
 * kept, a folder without the file gets a valid one, and a folder that takes
 * no new file (read-only, full) leaves sorted.json exactly as it was, with
 * no temporary file behind.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { ModelImportError, parseSortedMetadata } from '../../../../src-main/engine/model/import'
import { readSortedFile, SortedFileWriteError, updateSortedFile } from '../../../../src-main/engine/model/sorted-file'
import { draftCalibrationRecord, writeDraftCalibration } from '../../../../src-main/engine/generate/draft-calibration-record'
import type { DraftCalibration } from '../../../../src-main/engine/generate/draft-calibration'
import { mountSmallDisk, type SmallDisk } from '../../../fixtures/small-disk'

const root = mkdtempSync(join(tmpdir(), 'sorted-file-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))
let disk: SmallDisk | undefined
afterEach(() => {
  disk?.remove()
  disk = undefined
})

const tuned = {
  exits: [2, 4],
  results: { '2': { val_loss: 4.5 }, '4': { val_loss: 4.1 } },
  mode: 'soft',
  seed: 7,
  samples: [{ exit: 2, instruction: 'Hi', answer: 'Hello' }],
  draft_exit: 4,
}

const calibration: DraftCalibration = {
  fullDepthTokensPerS: 400,
  decodedTokens: 90,
  exits: [{ exit: 2, tokensPerS: 420.04, speedup: 1.0501, acceptanceRate: 0.61234, drafted: 50, accepted: 31, matchesFullDepth: true }],
  chosenExit: 2,
  beatsFullDepth: true,
  prompts: 3,
  maxNewTokens: 32,
  tries: 3,
}

function folderWith(name: string, sorted?: unknown): string {
  const dir = join(root, name)
  mkdirSync(dir)
  if (sorted !== undefined) writeFileSync(join(dir, 'sorted.json'), typeof sorted === 'string' ? sorted : JSON.stringify(sorted, null, 2))
  return dir
}

/** Moves `dir`'s contents onto a fresh tmpfs, then makes it read-only or fills it. */
function onSmallDisk(sorted: unknown, state: 'read-only' | 'full'): string {
  disk = mountSmallDisk({ sizeKiB: 256 })
  writeFileSync(join(disk.dir, 'sorted.json'), JSON.stringify(sorted, null, 2))
  if (state === 'read-only') execFileSync('mount', ['-o', 'remount,ro', disk.dir], { stdio: 'pipe' })
  else disk.fill()
  return disk.dir
}

describe('updateSortedFile', () => {
  it('sets the new fields and keeps every other field, in order', () => {
    const dir = folderWith('kept', tuned)
    const file = writeDraftCalibration(dir, 4, draftCalibrationRecord(calibration, { precision: 'int4', blockSize: 32, lmHead: 'int8' }, new Date('2026-11-30T12:00:00Z')))
    expect(file).toBe(join(dir, 'sorted.json'))
    const written = JSON.parse(readFileSync(file, 'utf8'))
    expect(Object.keys(written)).toEqual(['exits', 'results', 'mode', 'seed', 'samples', 'draft_exit', 'draft_calibration'])
    expect(written).toMatchObject({ ...tuned, draft_exit: 2 })
    expect(written.draft_calibration).toEqual({
      date: '2026-11-30T12:00:00.000Z',
      precision: 'int4',
      block_size: 32,
      full_depth_tokens_per_s: 400,
      beats_full_depth: true,
      prompts: 3,
      max_new_tokens: 32,
      tries: 3,
      exits: { '2': { tokens_per_s: 420, speedup: 1.05, acceptance_rate: 0.612 } },
    })
    // The folder still loads, and nothing else was left in it.
    expect(parseSortedMetadata(written, file, 4).exits).toEqual([2, 4])
    expect(readdirSync(dir)).toEqual(['sorted.json'])
  })

  it('gives a folder without sorted.json a valid one: the new fields and every layer as an exit', () => {
    const dir = folderWith('fresh')
    const file = updateSortedFile(dir, 3, { draft_exit: 1 })
    const written = JSON.parse(readFileSync(file, 'utf8'))
    expect(written).toEqual({ exits: [1, 2, 3], draft_exit: 1 })
    expect(readSortedFile(dir, 3)).toEqual(written)
  })

  it('refuses an existing sorted.json that is not valid, naming it, and leaves it alone', () => {
    const broken = folderWith('broken', '{"exits": [1, 2,')
    expect(() => updateSortedFile(broken, 2, { draft_exit: 1 })).toThrow(ModelImportError)
    expect(() => updateSortedFile(broken, 2, { draft_exit: 1 })).toThrow(`${join(broken, 'sorted.json')}: is not valid JSON (the text ends before the value is complete)`)
    expect(readFileSync(join(broken, 'sorted.json'), 'utf8')).toBe('{"exits": [1, 2,')
    const deeper = folderWith('deeper', { exits: [1, 5] })
    expect(() => updateSortedFile(deeper, 4, { draft_exit: 1 })).toThrow('field "exits": exit 5 is outside 1..4')
    expect(readdirSync(deeper)).toEqual(['sorted.json'])
  })

  it('refuses fields that would make sorted.json invalid', () => {
    const dir = folderWith('invalid-fields', tuned)
    const before = readFileSync(join(dir, 'sorted.json'), 'utf8')
    expect(() => updateSortedFile(dir, 4, { exits: [] })).toThrow(ModelImportError)
    expect(readFileSync(join(dir, 'sorted.json'), 'utf8')).toBe(before)
  })

  it('says a read-only folder cannot take the file, and changes nothing', () => {
    const dir = onSmallDisk(tuned, 'read-only')
    const before = readFileSync(join(dir, 'sorted.json'), 'utf8')
    const attempt = () => updateSortedFile(dir, 4, { draft_exit: 2 })
    expect(attempt).toThrow(SortedFileWriteError)
    expect(attempt).toThrow(`${join(dir, 'sorted.json')} cannot be written: read-only file system (EROFS); it was left as it was.`)
    expect(readFileSync(join(dir, 'sorted.json'), 'utf8')).toBe(before)
    expect(readdirSync(dir)).toEqual(['sorted.json'])
  })

  it('on a full disk leaves the old sorted.json whole and no temporary file', () => {
    const dir = onSmallDisk(tuned, 'full')
    const before = readFileSync(join(dir, 'sorted.json'), 'utf8')
    expect(() => updateSortedFile(dir, 4, { draft_exit: 2, padding: 'x'.repeat(64 * 1024) })).toThrow(
      `${join(dir, 'sorted.json')} cannot be written: the disk is full (ENOSPC); it was left as it was.`,
    )
    expect(readFileSync(join(dir, 'sorted.json'), 'utf8')).toBe(before)
    expect(readdirSync(dir).sort()).toEqual(['filler', 'sorted.json'])
  })
})
