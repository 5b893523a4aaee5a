import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { readLatestCheckpoint, writeCheckpoint, type CheckpointData } from '../../../../src-main/engine/train/checkpoint'
import { CheckpointError } from '../../../../src-main/engine/train/errors'

const root = mkdtempSync(join(tmpdir(), 'checkpoints-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))
let runs = 0

function checkpointAt(step: number): CheckpointData<{ note: string }> {
  const values = Float32Array.from({ length: 64 }, (_, i) => step + i / 64)
  return {
    step,
    params: new Map([['w', { shape: [8, 8], data: values }]]),
    m: new Map([['w', values.map((x) => x / 2)]]),
    v: new Map([['w', values.map((x) => x / 4)]]),
    state: { note: `at ${step}` },
  }
}

/** A folder with checkpoints at steps 2 and 4 (the two kept); returns it and the two checkpoint paths. */
function twoCheckpoints(): { dir: string; older: string; newer: string } {
  const dir = join(root, `run-${runs++}`)
  writeCheckpoint(dir, checkpointAt(2))
  writeCheckpoint(dir, checkpointAt(4))
  const [older, newer] = readdirSync(dir).sort().map((name) => join(dir, name))
  return { dir, older: older!, newer: newer! }
}

function read(dir: string) {
  const warnings: string[] = []
  const checkpoint = readLatestCheckpoint<{ note: string }>(dir, { warn: (m) => warnings.push(m) })
  return { checkpoint, warnings }
}

describe('checkpoints are checked before they are trusted', () => {
  it('reads back what was written, with no warning', () => {
    const { dir, newer } = twoCheckpoints()
    const { checkpoint, warnings } = read(dir)
    expect(warnings).toEqual([])
    expect(checkpoint).toMatchObject({ step: 4, path: newer, state: { note: 'at 4' } })
    expect(Array.from(checkpoint!.params.get('w')!.data)).toEqual(Array.from(checkpointAt(4).params.get('w')!.data))
  })

  it('a corrupted state.json: the newest is named in a warning and the one before it used', () => {
    const { dir, older, newer } = twoCheckpoints()
    writeFileSync(join(newer, 'state.json'), '{"step": 4, "sta')
    const { checkpoint, warnings } = read(dir)
    expect(checkpoint).toMatchObject({ step: 2, path: older, state: { note: 'at 2' } })
    expect(warnings).toEqual([expect.stringContaining(`checkpoint ${newer} is damaged (${join(newer, 'state.json')} does not match its checksum)`)])
    expect(warnings[0]).toContain(`resuming from the one before it, ${older}`)
  })

  it('random bytes in place of the parameters are caught by the checksum, not loaded', () => {
    const { dir, older, newer } = twoCheckpoints()
    const file = join(newer, 'params.safetensors')
    const bytes = readFileSync(file)
    // Same size, same header, different numbers: only a checksum can tell.
    for (let i = bytes.length - 64; i < bytes.length; i++) bytes[i] = (bytes[i]! * 31 + 7) & 0xff
    writeFileSync(file, bytes)
    const { checkpoint, warnings } = read(dir)
    expect(checkpoint?.path).toBe(older)
    expect(warnings[0]).toContain(`${file} does not match its checksum`)
  })

  it('a checkpoint without its manifest (cut short, or from elsewhere) is not trusted', () => {
    const { dir, older, newer } = twoCheckpoints()
    rmSync(join(newer, 'manifest.json'))
    const { checkpoint, warnings } = read(dir)
    expect(checkpoint?.path).toBe(older)
    expect(warnings[0]).toContain(`${join(newer, 'manifest.json')} is missing`)
  })

  it('when none is intact: one clear error naming the folder and each failure', () => {
    const { dir, older, newer } = twoCheckpoints()
    writeFileSync(join(newer, 'state.json'), 'garbage')
    writeFileSync(join(older, 'manifest.json'), '{"step": 2, "sha')
    let error: unknown
    try {
      read(dir)
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(CheckpointError)
    const message = (error as Error).message
    expect(message).toMatch(new RegExp(`^no intact checkpoint in ${dir} to resume from`))
    expect(message).toContain(`${join(older, 'manifest.json')} is not valid JSON`)
    expect(message).not.toContain('\n')
  })

  it('an empty or missing folder has nothing to resume, which is not an error', () => {
    expect(read(join(root, 'nowhere')).checkpoint).toBeUndefined()
  })
})
