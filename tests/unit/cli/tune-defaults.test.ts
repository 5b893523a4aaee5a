/**
 * `sorted tune` and the app share one list of tuning defaults (the
 * contract's): a run started from the command line with only the required
 * flags trains with exactly the settings the app would fill in, and the help
 * shows those values.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest'
import { writeTinyTextModel } from '../../fixtures/fixtures'
import { TuneRequest, tuningDefaults } from '../../../src-main/api/contract'
import type { TuneRequest as EngineTuneRequest } from '../../../src-main/engine/train/tune-job'

const started: EngineTuneRequest[] = []

// Capture the request instead of training: the test is about the settings the CLI hands over.
vi.mock('../../../src-main/engine/train/tune-job', async (original) => ({
  ...(await original<typeof import('../../../src-main/engine/train/tune-job')>()),
  runTuneJob: async (request: EngineTuneRequest) => {
    started.push(request)
    return { finished: false, step: 0, state: { history: [], validation: [] }, out: undefined }
  },
}))

const { tuneCommand } = await import('../../../src-main/cli/tune')

// A model whose context (1024) is longer than the default sequence length, so the default applies as it is.
const root = mkdtempSync(join(tmpdir(), 'tune-defaults-'))
const modelDir = join(root, 'tiny')
writeTinyTextModel(modelDir, { seed: 3, config: { max_position_embeddings: 1024 } })
afterAll(() => rmSync(root, { recursive: true, force: true }))

afterEach(() => {
  started.length = 0
  vi.restoreAllMocks()
})

describe('sorted tune defaults', () => {
  it('are the settings the app fills in for a request with only the required fields', async () => {
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
    await tuneCommand.run(['--model', modelDir, '--data', 'data.jsonl', '--mode', 'soft', '--out', 'out/tuned'])
    const app = TuneRequest.parse({ modelPath: modelDir, dataPath: 'data.jsonl', outDir: 'out/tuned', mode: 'soft' })
    expect(started).toEqual([{ ...app, provider: 'cpu' }])
  })

  it('are the values the help shows', () => {
    const shown = (flag: string) => tuneCommand.usage.split('\n').find((line) => line.trimStart().startsWith(flag))
    expect(shown('--batch-size')).toContain(`(default ${tuningDefaults.batchSize})`)
    expect(shown('--lr')).toContain(`(default ${tuningDefaults.lr.toExponential()})`)
    expect(shown('--seq-len')).toContain(`(default ${tuningDefaults.seqLen}, or the`)
    expect(shown('--val-split')).toContain(`(default ${tuningDefaults.valSplit})`)
    expect(shown('--schedule')).toContain(`(default ${tuningDefaults.schedule})`)
    expect(shown('--checkpoint-every')).toContain(`(default ${tuningDefaults.checkpointEvery};`)
  })
})
