import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readSafetensors } from '../../src-main/engine/model/safetensors'
import { writeTinyTextModel } from '../fixtures/fixtures'
import { finish, runCli } from './harness'

const root = mkdtempSync(join(tmpdir(), 'sorted-tune-'))
const modelDir = join(root, 'model')
const data = join(root, 'alpaca.jsonl')
afterAll(() => rmSync(root, { recursive: true, force: true }))

beforeAll(() => {
  writeTinyTextModel(modelDir, { seed: 8 })
  const words = ['hi', 'ho', 'ha', 'he']
  const lines = Array.from({ length: 12 }, (_, i) => JSON.stringify({ instruction: `say ${words[i % 4]}`, input: '', output: `${words[i % 4]} ${words[(i + 1) % 4]}` }))
  writeFileSync(data, `${lines.join('\n')}\n`)
})


const tuneArgs = (out: string) => [
  'tune', '--model', modelDir, '--data', data, '--mode', 'soft', '--max-steps', '6', '--batch-size', '2',
  '--seq-len', '64', '--lr', '3e-3', '--seed', '3', '--checkpoint-every', '1', '--val-split', '0.25', '--out', out, '--json',
]

describe('sorted tune', () => {
  it('survives kill -9 at any moment: --resume ends with the same losses and weights', async () => {
    const straight = await finish(tuneArgs(join(root, 'straight')))
    expect(straight.code, straight.stderr).toBe(0)
    const reference = JSON.parse(straight.stdout)
    expect(reference.history).toHaveLength(6)
    // It learns: every exit's training loss falls over the run.
    for (const exit of ['1', '2', '3']) expect(reference.history[5].loss[exit]).toBeLessThan(reference.history[0].loss[exit])
    expect(Object.keys(reference.val)).toEqual(['1', '2', '3'])

    const out = join(root, 'crashed')
    const child = runCli(tuneArgs(out))
    let stderr = ''
    await new Promise<void>((resolve) => {
      child.stderr?.on('data', (chunk) => {
        stderr += chunk
        if (stderr.includes('step 3/6')) {
          child.kill('SIGKILL')
          resolve()
        }
      })
    })
    await new Promise((resolve) => child.once('exit', resolve))
    const resumed = await finish([...tuneArgs(out), '--resume'])
    expect(resumed.code, resumed.stderr).toBe(0)
    expect(resumed.stderr).toMatch(/resuming at step [1-3]/)
    const after = JSON.parse(resumed.stdout)
    expect(after.history.map((h: { step: number }) => h.step)).toEqual([1, 2, 3, 4, 5, 6])
    expect(after.history).toEqual(reference.history)
    expect(after.val).toEqual(reference.val)
    const a = readSafetensors(join(root, 'straight', 'model.safetensors')).tensors
    const b = readSafetensors(join(out, 'model.safetensors')).tensors
    for (const [name, t] of a) expect(Array.from(b.get(name)!.data), name).toEqual(Array.from(t.data))
    const sorted = JSON.parse(readFileSync(join(out, 'sorted.json'), 'utf8'))
    expect(sorted.exits).toEqual([1, 2, 3])
    expect(Object.keys(sorted.results)).toEqual(['1', '2', '3'])
  })

  it('reports every malformed record with its line and field, and trains on nothing', async () => {
    const bad = join(root, 'bad.jsonl')
    writeFileSync(bad, `${JSON.stringify({ instruction: 'a', output: 'b' })}\n{"instruction": "x", "output": 5}\nnot json\n`)
    const result = await finish(['tune', '--model', modelDir, '--data', bad, '--mode', 'sft', '--max-steps', '1', '--out', join(root, 'never')])
    expect(result.code).toBe(1)
    expect(result.stderr).toContain(`${bad}:2: field "output"`)
    expect(result.stderr).toContain(`${bad}:3:`)
  })

  it('eval-loss prints the mean loss of every exit', async () => {
    const result = await finish(['eval-loss', '--model', modelDir, '--data', data, '--seq-len', '64', '--json'])
    expect(result.code, result.stderr).toBe(0)
    const losses = JSON.parse(result.stdout)
    expect(Object.keys(losses)).toEqual(['1', '2', '3'])
    for (const value of Object.values(losses)) expect(value).toBeGreaterThan(0)
  })
})
