import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'

const child = fileURLToPath(new URL('./step-memory-child.ts', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'step-memory-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Peak RSS above the model itself per trained parameter, of a run in its own process (~1 GB whatever happens: a fixed model). */
function bytesPerParameter(...args: string[]): number {
  const run = spawnSync(process.execPath, ['--import', 'tsx', child, dir, ...args], { encoding: 'utf8', timeout: 300_000 })
  expect(run.status, run.stderr).toBe(0)
  const { parameters, withModelBytes, peakBytes } = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { parameters: number; withModelBytes: number; peakBytes: number }
  return (peakBytes - withModelBytes) / parameters
}

// m and v (8) and the gradient (4) stay; as the gradients graph returns, ONNX Runtime's output and Node's copy of
// it exist together (4 more), and the session holds the embedding gradient's zeros (ONNX Runtime folds them into a
// constant): 19.4 measured. Any weight, moment or gradient held once more would add 4 (the old step: 43).
describe('a full fine-tuning step holds each trained parameter lean', () => {
  it("peaks at < 20.5 bytes a trained parameter above the model itself: two moments, the gradient, ONNX Runtime's copy of it as a run ends", () => {
    expect(bytesPerParameter()).toBeLessThan(20.5)
  })

  it('so does a run resumed from a checkpoint (the checkpoint\'s weights, once copied into the model\'s, are freed)', () => {
    expect(bytesPerParameter('resume')).toBeLessThan(20.5)
  })
})
