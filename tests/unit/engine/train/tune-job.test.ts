import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { TuneSetupError } from '../../../../src-main/engine/train/errors'
import { checkpointDirOf, runTuneJob, type TuneJobOptions, type TuneRequest } from '../../../../src-main/engine/train/tune-job'
import { tuneJobFixture } from './tune-job-fixture'

const fixture = tuneJobFixture('tune-job-')
const { root, data, request } = fixture
afterAll(() => fixture.remove())

/** The TuneSetupError a job is refused with (its message and the settings it names). */
async function refusal(tune: TuneRequest, options: Partial<TuneJobOptions> = {}): Promise<TuneSetupError> {
  const error = await runTuneJob(tune, { resume: false, hooks: { intraOpThreads: 1 }, ...options }).then(
    () => new Error('expected a refusal'),
    (e: unknown) => e,
  )
  if (!(error instanceof TuneSetupError)) throw error
  return error
}

describe('a tune job refuses what cannot run, before loading or training anything', () => {
  it('--out that is a file', async () => {
    const file = join(root, 'a-file')
    writeFileSync(file, 'x')
    const error = await refusal(request({ outDir: file }))
    expect(error.message).toBe(`outDir: ${file} is a file; give a folder for the tuned model.`)
    expect(error.settings).toEqual(['outDir'])
  })

  it('--out where no folder can be made (/proc): at once, not a spin in mkdir', async () => {
    const error = await refusal(request({ outDir: '/proc/sorted-test-out' }))
    expect(error.message).toBe('outDir: the checkpoint folder /proc/sorted-test-out.checkpoints cannot be created: /proc does not accept new files (ENOENT).')
  })

  it('a sequence length beyond the model\'s context, naming the setting as the caller does', async () => {
    const error = await refusal(request({ seqLen: 100_000 }), { name: (s) => `--${s}` })
    expect(error.message).toBe("--seqLen 100000 is too long: the model's context is 256 tokens (max_position_embeddings in its config.json). Give at most 256.")
  })

  it('a batch too large for this machine\'s memory, before the data is even read', async () => {
    const error = await refusal(request({ batchSize: 1_000_000, seqLen: 256, dataPath: join(root, 'not-read.jsonl') }))
    expect(error.message).toMatch(/^batchSize 1000000 with seqLen 256 needs about \d+ GiB \(weights .*\), more than this machine's [\d.]+ GiB of memory\. batchSize \d+ fits \(gradAccum keeps the effective batch\)\.$/)
    expect(error.settings).toEqual(['batchSize', 'seqLen'])
  })

  it('a validation split of a one-record dataset', async () => {
    const one = join(root, 'one.jsonl')
    writeFileSync(one, `${JSON.stringify({ instruction: 'a', output: 'b' })}\n`)
    const error = await refusal(request({ dataPath: one, valSplit: 0.05 }))
    expect(error.message).toBe(`valSplit 0.05 needs at least 2 records (one to train on, one to validate with); ${one} has 1. Give valSplit 0, or more data.`)
  })

  it('a warmup as long as the run', async () => {
    const tune = request({ warmup: 1e9, maxSteps: 6, outDir: join(root, 'new', 'deeper', 'out') })
    const error = await refusal(tune)
    expect(error.message).toBe('warmup 1000000000 is not shorter than the run (6 steps): the learning rate would never reach lr 0.001. Give warmup below 6.')
    // A refused run leaves no folder behind.
    expect(existsSync(join(root, 'new'))).toBe(false)
  })
})

describe('resuming with other settings', () => {
  /** A run stopped after `steps` of 4 (checkpoints at each step), ready to resume. */
  async function stoppedRun(steps: number): Promise<TuneRequest> {
    const tune = request({ maxSteps: 4 })
    const controller = new AbortController()
    const outcome = await runTuneJob(tune, { resume: false, signal: controller.signal, hooks: { intraOpThreads: 1, onStep: ({ step }) => step === steps && controller.abort() } })
    expect(outcome).toMatchObject({ finished: false, step: steps })
    return tune
  }

  it('is refused with every changed setting listed; --force goes on and records the change', async () => {
    const tune = await stoppedRun(2)
    const error = await refusal({ ...tune, lr: 3e-3, mode: 'sft', exits: '2', dataPath: join(root, 'other.jsonl') }, { resume: true, forceHint: 'add --force', name: (s) => `--${s}` })
    expect(error.message).toBe(
      `the checkpoints in ${checkpointDirOf(tune.outDir)} were made with other settings: --dataPath ${data} (now ${join(root, 'other.jsonl')}), ` +
        '--mode soft (now sft), --exits 1,2,3 (now 2,3), --lr 0.001 (now 0.003). Resume with the same settings, or start a new run (add --force).',
    )
    expect(error.settings).toEqual(['dataPath', 'mode', 'exits', 'lr'])
    // The same settings resume without a word.
    const logs: string[] = []
    const forced = await runTuneJob({ ...tune, lr: 3e-3 }, { resume: true, force: true, hooks: { intraOpThreads: 1, log: (m) => logs.push(m) } })
    expect(forced).toMatchObject({ finished: true, step: 4 })
    expect(logs).toContain(`warning: resuming at step 2 with changed settings: lr 0.001 (now 0.003) (forced); recorded in ${join(checkpointDirOf(tune.outDir), 'run.json')}`)
    const record = JSON.parse(readFileSync(join(checkpointDirOf(tune.outDir), 'run.json'), 'utf8'))
    expect(record.settings.lr).toBe(3e-3)
    expect(record.forced).toEqual([{ at: expect.any(String), step: 2, changes: [{ setting: 'lr', was: 1e-3, now: 3e-3 }] }])
  })

  it('the same settings resume as before', async () => {
    const tune = await stoppedRun(1)
    expect(await runTuneJob(tune, { resume: true, hooks: { intraOpThreads: 1 } })).toMatchObject({ finished: true, step: 4 })
    expect(existsSync(join(tune.outDir, 'model.safetensors'))).toBe(true)
  })

  it('max steps below the checkpoint\'s step is an error, even forced, and no model is written', async () => {
    const tune = await stoppedRun(3)
    const error = await refusal({ ...tune, maxSteps: 2 }, { resume: true, force: true })
    expect(error.message).toBe(`maxSteps 2 ends before step 3, where the checkpoints in ${checkpointDirOf(tune.outDir)} already are; give at least 3 steps to resume.`)
    expect(existsSync(tune.outDir)).toBe(false)
  })
})
