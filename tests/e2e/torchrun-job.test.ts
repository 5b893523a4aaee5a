/**
 * `sorted export-job` + PyTorch: the exported job, run by `torchrun
 * --nproc_per_node 2` on the CPU (gloo, DDP), reproduces `sorted tune`'s
 * per-step per-exit losses, and its output folder loads in the app's engine.
 * Needs a Python with PyTorch (CI installs Debian's python3-torch: .ci/run).
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { epochSeed, mulberry32, permutation } from '../../src-main/engine/data/random'
import { loadModelFolder } from '../../src-main/engine/model/import'
import { readJobOutput } from '../../src-main/engine/train/job-output'
import { writeTinyTextModel } from '../fixtures/fixtures'
import { finish, launchChromium, repoRoot, screenshot, serve } from './harness'

const root = mkdtempSync(join(tmpdir(), 'sorted-torchrun-'))
const modelDir = join(root, 'model')
const data = join(root, 'alpaca.jsonl')
afterAll(() => rmSync(root, { recursive: true, force: true }))

/** The first Python that imports torch: PATH's python3, else Debian's (a pyenv python3 may shadow it). */
function pythonWithTorch(): string {
  for (const candidate of [process.env.SORTED_TEST_PYTHON, 'python3', '/usr/bin/python3']) {
    if (candidate && spawnSync(candidate, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0) return candidate
  }
  throw new Error('No Python with PyTorch: install it (Debian: apt-get install python3-torch, as .ci/run does).')
}
const python = pythonWithTorch()

interface Ran {
  code: number | null
  stdout: string
  stderr: string
}

function runPython(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Ran> {
  // One thread per process: two processes share the test machine's cores.
  const child = spawn(python, args, { env: { ...process.env, OMP_NUM_THREADS: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c) => (stdout += c))
  child.stderr.on('data', (c) => (stderr += c))
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })))
}

/**
 * torchrun, run as the module of the Python that has torch (the `torchrun` on
 * PATH may belong to another). `--redirects 1 --tee 1`: Debian's torchrun
 * 1.13 on Python 3.11 cannot parse its own default "0" (the job's README says so).
 */
const torchrun = (jobDir: string, processes: number, extra: string[] = []) =>
  runPython(['-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', String(processes), '--redirects', '1', '--tee', '1', join(jobDir, 'train.py'), ...extra])

beforeAll(() => {
  writeTinyTextModel(modelDir, { seed: 8 })
  const words = ['hi', 'ho', 'ha', 'he']
  const lines = Array.from({ length: 12 }, (_, i) =>
    JSON.stringify({ instruction: `say ${words[i % 4]} and ${words[(i + 2) % 4]}`, input: '', output: `${words[i % 4]} ${words[(i + 1) % 4]}${' hm'.repeat(i % 3)}` }),
  )
  writeFileSync(data, `${lines.join('\n')}\n`)
})

/** Each mode's job output, for the import test. */
const outputs: Record<string, string> = {}

const slow = { timeout: 60_000 }
/** A hang guard, not a speed check: each test starts PyTorch processes, slow on a busy two-core machine. */
const hangGuard = 240_000

type History = { step: number; loss: Record<string, number> }[]

/** Largest |a − b| / |a| per exit over the steps. */
function relativeDifferences(app: History, job: History): Record<string, number> {
  expect(job.map((r) => r.step)).toEqual(app.map((r) => r.step))
  const worst: Record<string, number> = {}
  app.forEach((record, i) => {
    expect(Object.keys(job[i]!.loss).sort()).toEqual(Object.keys(record.loss).sort())
    for (const [exit, loss] of Object.entries(record.loss)) {
      const difference = Math.abs(job[i]!.loss[exit]! - loss) / Math.abs(loss)
      worst[exit] = Math.max(worst[exit] ?? 0, difference)
    }
  })
  return worst
}

describe('sorted export-job → torchrun', () => {
  for (const { mode, exits, gradAccum } of [
    { mode: 'soft', exits: 'all', gradAccum: '2' },
    { mode: 'sortednet', exits: 'all', gradAccum: '1' },
  ]) {
    it(`${mode}: two processes (DDP, gloo) repeat sorted tune's per-step per-exit losses within 1e-3`, async () => {
      const settings = [
        '--model', modelDir, '--data', data, '--mode', mode, '--exits', exits, '--max-steps', '4', '--batch-size', '2', '--grad-accum', gradAccum,
        '--seq-len', '48', '--lr', '3e-3', '--seed', '5', '--no-shuffle', '--val-split', '0.25', '--checkpoint-every', '2',
      ]
      const [tuned, exported] = await Promise.all([
        finish(['tune', ...settings, '--out', join(root, `${mode}-app`), '--json']),
        finish(['export-job', ...settings, '--out', join(root, `${mode}-job`), '--json']),
      ])
      expect(tuned.code, tuned.stderr).toBe(0)
      expect(exported.code, exported.stderr).toBe(0)
      const job = JSON.parse(exported.stdout)
      expect(job.commands.oneNode).toContain('torchrun --nproc_per_node')
      const app = JSON.parse(tuned.stdout) as { history: History; val: Record<string, number> }

      const ran = await torchrun(job.jobDir, 2, ['--cpu'])
      expect(ran.code, ran.stderr).toBe(0)
      const output = join(job.jobDir, 'output')
      outputs[mode] = output
      const record = readJobOutput(output)!
      const worst = relativeDifferences(app.history, record.steps)
      process.stderr.write(`${mode}: max relative difference per exit ${JSON.stringify(worst)}\n`)
      for (const difference of Object.values(worst)) expect(difference).toBeLessThan(1e-3)
      // The final validation too, and the model loads in the app's engine.
      for (const [exit, loss] of Object.entries(app.val)) expect(Math.abs(record.validation.at(-1)!.loss[exit]! - loss) / loss).toBeLessThan(1e-3)
      const loaded = loadModelFolder(output)
      expect(loaded.sorted?.exits).toEqual([1, 2, 3])
      expect(Object.keys(loaded.sorted!.results)).toEqual(['1', '2', '3'])
    }, hangGuard)
  }

  it("train.py shuffles epochs and draws SortedNet's exits exactly as the app does (seeded, 32-bit)", async () => {
    const seeds = [0, 5, 42, -7, 2 ** 31 + 3]
    const script = [
      'import json, sys',
      `sys.path.insert(0, ${JSON.stringify(join(repoRoot, 'resources', 'jobs'))})`,
      'import train',
      `seeds = ${JSON.stringify(seeds)}`,
      'print(json.dumps({"orders": [train.permutation(13, train.epoch_seed(s, e)) for s in seeds for e in (0, 1, 7)],',
      '                  "draws": [train.sortednet_draw(s, step) for s in seeds for step in (0, 1, 99)]}))',
    ].join('\n')
    const ran = await runPython(['-c', script])
    expect(ran.code, ran.stderr).toBe(0)
    const python = JSON.parse(ran.stdout)
    expect(python.orders).toEqual(seeds.flatMap((s) => [0, 1, 7].map((e) => permutation(13, epochSeed(s, e)))))
    expect(python.draws).toEqual(seeds.flatMap((s) => [0, 1, 99].map((step) => mulberry32(s * 1_000_003 + step)())))
  }, hangGuard)

  it('Models → Import takes the job output: the model in the library, its run in Runs with per-exit curves', async () => {
    const output = outputs.soft!
    const app = await serve(join(root, 'app-data'))
    const browser = await launchChromium()
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } })
      await page.goto(app.url)
      await page.getByRole('link', { name: 'Models', exact: true }).click()
      await page.getByTestId('import-path').fill(output)
      await page.getByTestId('import-button').click()
      await page.getByTestId('model-output').waitFor(slow)
      await page.getByRole('link', { name: 'Runs' }).click()
      const row = page.getByTestId('run-row')
      await row.waitFor(slow)
      expect(await row.textContent()).toContain(basename(data))
      expect(await page.getByTestId('run-row-steps').textContent()).toBe('4 / 4')
      await row.getByRole('link').click()
      const series = async () => JSON.parse((await page.getByTestId('loss-chart').getAttribute('data-series')) ?? '{}')
      await expect.poll(series, slow).toEqual({ 'train 1': 4, 'train 2': 4, 'train 3': 4, 'validation 1': 1, 'validation 2': 1, 'validation 3': 1 })
      await screenshot(page, 'torchrun-job-run')
    } finally {
      await browser.close()
      await app.stop()
    }
  }, hangGuard)

  it('--resume continues from the newest checkpoint to the same losses; a second start without it is refused', async () => {
    const output = outputs.soft!
    const jobDir = join(output, '..')
    const straight = readJobOutput(output)!.steps
    const again = await runPython([join(jobDir, 'train.py'), '--cpu'])
    expect(again.code).toBe(2)
    expect(again.stderr.trim()).toBe(`train.py: ${output}: already holds a model (a finished run): move it away to train again`)
    // As if the run had died after step 2's checkpoint (every 2 steps): the final one and the output gone.
    rmSync(output, { recursive: true })
    rmSync(join(jobDir, 'checkpoints', 'step-00000004.pt'))
    const fresh = await runPython([join(jobDir, 'train.py'), '--cpu'])
    expect(fresh.code).toBe(2)
    expect(fresh.stderr.trim()).toBe(`train.py: ${join(jobDir, 'checkpoints')} holds checkpoints of an earlier run: pass --resume to continue it, or remove the folder`)
    const resumed = await torchrun(jobDir, 2, ['--cpu', '--resume'])
    expect(resumed.code, resumed.stderr).toBe(0)
    expect(resumed.stderr).toContain('resuming at step 2')
    expect(readJobOutput(output)!.steps.map((r) => r.loss)).toEqual(straight.map((r) => r.loss))
  }, hangGuard)

  it('refuses bad input with one line, on both sides', async () => {
    const settings = ['--model', modelDir, '--data', data, '--mode', 'sft', '--max-steps', '1', '--seq-len', '32', '--val-split', '0']
    // The app's side: an unsupported architecture, a missing dataset.
    const gpt2 = join(root, 'gpt2')
    writeTinyTextModel(gpt2, { seed: 1, config: { architectures: ['GPT2LMHeadModel'] } })
    const refused = await finish(['export-job', ...settings.map((s) => (s === modelDir ? gpt2 : s)), '--out', join(root, 'never')])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain('GPT2LMHeadModel is not supported')
    expect(existsSync(join(root, 'never'))).toBe(false)
    const noData = await finish(['export-job', ...settings.map((s) => (s === data ? join(root, 'absent.jsonl') : s)), '--out', join(root, 'never')])
    expect(noData.code).not.toBe(0)
    expect(noData.stderr).toContain(join(root, 'absent.jsonl'))
    expect(noData.stderr).not.toMatch(/\n\s+at /)

    // The PyTorch side: a job from a newer app, its dataset gone, an architecture it does not run.
    const made = await finish(['export-job', ...settings, '--out', join(root, 'bad-job'), '--json'])
    expect(made.code, made.stderr).toBe(0)
    const jobDir = join(root, 'bad-job')
    const jobFile = join(jobDir, 'job.json')
    const original = readFileSync(jobFile, 'utf8')
    const edit = (change: (job: { version: number; model: { config: { architecture: string } } }) => void) => {
      const job = JSON.parse(original)
      change(job)
      writeFileSync(jobFile, JSON.stringify(job))
    }
    const oneLine = (ran: Ran) => {
      expect(ran.code).toBe(2)
      expect(ran.stderr).not.toContain('Traceback')
      return ran.stderr.trim()
    }
    edit((job) => (job.version = 2))
    expect(oneLine(await runPython([join(jobDir, 'train.py'), '--cpu']))).toMatch(/job\.json: field "version": 2, but this train\.py reads job format 1/)
    edit((job) => (job.model.config.architecture = 'gpt2'))
    expect(oneLine(await runPython([join(jobDir, 'train.py'), '--cpu']))).toMatch(/field "model\.config\.architecture": "gpt2" is not supported \(supported: llama, mistral, qwen2, qwen3\)/)
    edit(() => {})
    rmSync(join(jobDir, 'data', 'train.jsonl'))
    expect(oneLine(await runPython([join(jobDir, 'train.py'), '--cpu']))).toContain(`${join(jobDir, 'data', 'train.jsonl')}: missing`)
  }, hangGuard)
})
