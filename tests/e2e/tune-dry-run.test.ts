import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { writeTinyTextModel } from '../fixtures/fixtures'
import { finish } from './harness'

const root = mkdtempSync(join(tmpdir(), 'sorted-dry-run-'))
const modelDir = join(root, 'model')
const data = join(root, 'alpaca.jsonl')
const out = join(root, 'never-made')
afterAll(() => rmSync(root, { recursive: true, force: true }))

beforeAll(() => {
  writeTinyTextModel(modelDir, { seed: 8 })
  writeFileSync(data, `${JSON.stringify({ instruction: 'say hi', output: 'hi' })}\n`)
})

const dryRun = (...extra: string[]) => finish(['tune', '--model', modelDir, '--data', data, '--mode', 'soft', '--out', out, '--batch-size', '2', '--seq-len', '32', '--dry-run', ...extra])

describe('sorted tune --dry-run', () => {
  it('prints the plan as one JSON object and exits 0 without touching --out', async () => {
    const full = await dryRun('--json')
    expect(full.code).toBe(0)
    const plan = JSON.parse(full.stdout) as Record<string, unknown>
    expect(plan).toMatchObject({ fits: true, trainable_params: plan.parameters })
    expect(plan.predicted_peak_mb).toBeGreaterThan(0)
    expect(plan.predicted_step_s).toBeGreaterThan(0)
    expect(existsSync(out)).toBe(false)
    expect(existsSync(`${out}.checkpoints`)).toBe(false)

    const lora = JSON.parse((await dryRun('--json', '--adapter', 'lora', '--lora-rank', '2')).stdout) as { trainable_params: number; breakdown_mb: { training_state: number } }
    expect(lora.trainable_params).toBeLessThan(plan.parameters as number)
    // The gradients and moments of the adapter alone (the tiny model's whole peak is mostly the process itself).
    expect(lora.breakdown_mb.training_state).toBeLessThan((plan.breakdown_mb as { training_state: number }).training_state)
  })

  it('--recompute on keeps only each layer\'s input for the backward: fewer activation bytes, a longer step; auto is off when the step fits', async () => {
    const plan = async (...extra: string[]) => JSON.parse((await dryRun('--json', '--batch-size', '8', ...extra)).stdout) as { recompute: boolean; predicted_step_s: number; breakdown_mb: { activations: number } }
    const auto = await plan()
    const off = await plan('--recompute', 'off')
    const on = await plan('--recompute', 'on')
    expect(auto).toEqual(off)
    expect(off.recompute).toBe(false)
    expect(on.recompute).toBe(true)
    expect(on.breakdown_mb.activations).toBeLessThan(off.breakdown_mb.activations)
    expect(on.predicted_step_s).toBeGreaterThan(off.predicted_step_s)
    const bad = await dryRun('--recompute', 'sometimes')
    expect(bad.code).toBe(2)
    expect(bad.stderr.split('\n')[0]).toBe('sorted tune: --recompute must be auto, on or off (got "sometimes").')
  })

  it('a plan over this machine\'s memory: fits false, with the largest batch that fits, still exit 0', async () => {
    const huge = await finish(['tune', '--model', modelDir, '--data', data, '--mode', 'soft', '--out', out, '--seq-len', '32', '--batch-size', '100000000', '--dry-run', '--json'])
    expect(huge.code).toBe(0)
    const plan = JSON.parse(huge.stdout) as { fits: boolean; largest_batch: number; proposal: string }
    expect(plan.fits).toBe(false)
    expect(plan.largest_batch).toBeGreaterThan(0)
    expect(plan.proposal).toBe(`--batch-size ${plan.largest_batch} fits (--grad-accum keeps the effective batch).`)
  })

  it('without --json, says the plan in three lines', async () => {
    const plain = await dryRun()
    expect(plain.code).toBe(0)
    expect(plain.stdout).toMatch(/^predicted peak [\d.]+ MiB of [\d.]+ MiB \(weights [\d.]+, gradients and optimizer [\d.]+, activations [\d.]+, arena [\d.]+, runtime [\d.]+\)\npredicted step [\d.e-]+ s; \d+ of \d+ parameters train\nfits\n$/)
  })

  it('names the flag of a setting that cannot be planned, in one line', async () => {
    const bad = await dryRun('--exits', '99')
    expect(bad.code).not.toBe(0)
    expect(bad.stderr.split('\n')[0]).toMatch(/^sorted tune: --exits: exits "99": 99 is outside 1\.\.\d+$/)
  })
})
