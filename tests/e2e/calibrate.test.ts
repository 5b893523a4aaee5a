/**
 * `sorted calibrate` on a copy of the bundled model: it measures every draft
 * exit, writes draft_exit (among the offered exits) and draft_calibration
 * into sorted.json keeping every other field, and `sorted generate
 * --speculative` then drafts at that exit when none is named. Bad prompts
 * files and unwritable folders are refused in one line, sorted.json untouched.
 * Speeds are printed, never compared: this machine is shared.
 */
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { updateSortedFile } from '../../src-main/engine/model/sorted-file'
import { writeRandomModel } from '../fixtures/fixtures'
import { mountSmallDisk, type SmallDisk } from '../fixtures/small-disk'
import { finish, repoRoot } from './harness'

const bundled = join(repoRoot, 'resources', 'models', 'dictionary-soft')
const root = mkdtempSync(join(tmpdir(), 'sorted-calibrate-'))
const model = join(root, 'dictionary-soft')
const promptsFile = join(root, 'prompts.txt')
let disk: SmallDisk | undefined

beforeAll(() => {
  cpSync(bundled, model, { recursive: true })
  writeFileSync(promptsFile, 'Define the noun "harbour".\nWhat is a river?\n')
})
afterAll(() => {
  disk?.remove()
  rmSync(root, { recursive: true, force: true })
})

const original = JSON.parse(readFileSync(join(bundled, 'sorted.json'), 'utf8')) as Record<string, unknown>
const sortedJson = (dir = model) => JSON.parse(readFileSync(join(dir, 'sorted.json'), 'utf8')) as Record<string, unknown>

describe('sorted calibrate', () => {
  it('writes the fastest draft exit into sorted.json, and generate --speculative drafts there', async () => {
    const result = await finish(['calibrate', '--model', model, '--prompts', promptsFile, '--max-new-tokens', '12', '--json'])
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
    const out = JSON.parse(result.stdout)
    const exits = original.exits as number[]
    expect(out.exits.map((m: { exit: number }) => m.exit)).toEqual(exits.filter((e) => e < 8))
    expect(out.exits.every((m: { matches_full_depth: boolean; tokens_per_s: number }) => m.matches_full_depth && m.tokens_per_s > 0)).toBe(true)
    expect(out).toMatchObject({ weights: 'fp32', prompts: 2, max_new_tokens: 12, tries: 3, written: join(model, 'sorted.json') })
    const fastest = Math.max(...out.exits.map((m: { tokens_per_s: number }) => m.tokens_per_s))
    expect(out.exits.find((m: { exit: number }) => m.exit === out.draft_exit).tokens_per_s).toBe(fastest)
    expect(out.beats_full_depth).toBe(fastest > out.full_depth_tokens_per_s)

    const written = sortedJson()
    expect(written.draft_exit).toBe(out.draft_exit)
    expect(exits).toContain(written.draft_exit)
    expect(written.draft_calibration).toMatchObject({ precision: 'fp32', full_depth_tokens_per_s: out.full_depth_tokens_per_s, prompts: 2, max_new_tokens: 12 })
    // Every field it had is still there, unchanged.
    const { draft_exit: _exit, draft_calibration: _calibration, ...kept } = written
    expect(kept).toEqual(original)
    expect(readdirSync(model).sort()).toEqual(readdirSync(bundled).sort())

    // With no --draft-exit, Exact drafts at the calibrated exit.
    const generated = await finish(['generate', '--model', model, '--prompt', 'What is a river?', '--chat', '--speculative', '--max-new-tokens', '8', '--json'])
    expect(generated.stderr).toBe('')
    expect(generated.code).toBe(0)
    expect(JSON.parse(generated.stdout)).toMatchObject({ mode: 'exact', draft_exit: out.draft_exit })
    // The calibrated exit may equal the default (the exit nearest L/4 = 2): a stored 5 or 6, never
    // a default, must be what generate drafts at, so what it reports comes from sorted.json.
    const stored = out.draft_exit === 5 ? 6 : 5
    updateSortedFile(model, 8, { draft_exit: stored })
    const again = await finish(['generate', '--model', model, '--prompt-ids', '0,2,5', '--speculative', '--max-new-tokens', '4', '--json'])
    expect(again.code).toBe(0)
    expect(JSON.parse(again.stdout)).toMatchObject({ mode: 'exact', draft_exit: stored })
  })

  it('prints the table and writes nothing with --dry-run', async () => {
    const dry = join(root, 'dry')
    cpSync(bundled, dry, { recursive: true })
    const result = await finish(['calibrate', '--model', dry, '--prompts', promptsFile, '--max-new-tokens', '4', '--dry-run'])
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(/^exit\s+tokens\/s\s+speed-up\s+acceptance$/m)
    expect(result.stdout).toMatch(/^full\s+[\d.]+\s+1\.00×\s+–$/m)
    for (let e = 1; e < 8; e++) expect(result.stdout).toMatch(new RegExp(`^${e}( \\*)?\\s+[\\d.]+\\s+[\\d.]+×\\s+[\\d.]+$`, 'm'))
    expect(result.stdout).toContain('--dry-run: nothing written.')
    expect(readFileSync(join(dry, 'sorted.json'), 'utf8')).toBe(readFileSync(join(bundled, 'sorted.json'), 'utf8'))
  })

  it('is listed by --help and explains its options', async () => {
    expect((await finish(['--help'])).stdout).toMatch(/^\s+calibrate\s+Measure Exact mode at every draft exit/m)
    const help = await finish(['calibrate', '--help'])
    expect(help.code).toBe(0)
    for (const flag of ['--model DIR', '--prompts FILE', '--max-new-tokens N', '--weights P', '--dry-run', '--json']) expect(help.stdout).toContain(flag)
  })

  it('refuses a malformed prompts file naming its file and line, and a bad flag, before measuring', async () => {
    const bad = join(root, 'bad.jsonl')
    writeFileSync(bad, '{"instruction": "Fine"}\n{"instruction": 3}\n')
    const before = readFileSync(join(model, 'sorted.json'), 'utf8')
    const result = await finish(['calibrate', '--model', model, '--prompts', bad])
    expect(result.code).toBe(1)
    expect(result.stderr).toContain(`${bad}:2: field "instruction":`)
    expect(result.stderr).not.toMatch(/\n\s+at /)
    const long = join(root, 'long.txt')
    writeFileSync(long, `What is a river?\n${'harbour '.repeat(2000)}\n`)
    const tooLong = await finish(['calibrate', '--model', model, '--prompts', long])
    expect(tooLong.code).toBe(2)
    expect(tooLong.stderr).toMatch(new RegExp(`^sorted calibrate: ${long}:2: .*1024 tokens`))
    const flag = await finish(['calibrate', '--model', model, '--max-new-tokens', '1'])
    expect(flag.code).toBe(2)
    expect(flag.stderr).toContain('--max-new-tokens must be a whole number in 2..1024 (got "1").')
    expect(readFileSync(join(model, 'sorted.json'), 'utf8')).toBe(before)
  })

  it('calibrates a model without a tokenizer or sorted.json on fixed ids, giving it a sorted.json; refuses a one-layer model', async () => {
    const shape = { architecture: 'llama' as const, hidden: 16, heads: 4, kvHeads: 2, intermediate: 24, vocab: 40, dtype: 'F32' as const, seed: 5, config: { eos_token_id: 2000 } }
    const idsOnly = join(root, 'ids-only')
    writeRandomModel(idsOnly, { ...shape, layers: 3 })
    const result = await finish(['calibrate', '--model', idsOnly, '--max-new-tokens', '6', '--json'])
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
    const out = JSON.parse(result.stdout)
    expect(out.exits.map((m: { exit: number }) => m.exit)).toEqual([1, 2])
    expect(sortedJson(idsOnly)).toMatchObject({ exits: [1, 2, 3], draft_exit: out.draft_exit })
    const withText = await finish(['calibrate', '--model', idsOnly, '--prompts', promptsFile])
    expect(withText.code).toBe(2)
    expect(withText.stderr).toContain(`--prompts: ${idsOnly} has no tokenizer (tokenizer.json) to encode text with`)

    const oneLayer = join(root, 'one-layer')
    writeRandomModel(oneLayer, { ...shape, layers: 1 })
    const refused = await finish(['calibrate', '--model', oneLayer])
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain(`${oneLayer} offers no exit below its full depth (1): Exact mode has no exit to draft with.`)
    expect(readdirSync(oneLayer)).not.toContain('sorted.json')
  })

  it('refuses a read-only model folder in one line, before measuring, leaving sorted.json as it was', async () => {
    disk = mountSmallDisk({ sizeKiB: 32 * 1024 })
    cpSync(bundled, disk.dir, { recursive: true })
    execFileSync('mount', ['-o', 'remount,ro', disk.dir], { stdio: 'pipe' })
    const result = await finish(['calibrate', '--model', disk.dir, '--prompts', promptsFile, '--max-new-tokens', '4'])
    expect(result.code).toBe(1)
    expect(result.stderr).toBe(`sorted calibrate: --model ${disk.dir} is not writable: read-only file system (EROFS).\n`)
    expect(sortedJson(disk.dir)).toEqual(original)
  })
})
