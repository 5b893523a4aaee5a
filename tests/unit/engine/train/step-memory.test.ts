import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const child = fileURLToPath(new URL('./step-memory-child.ts', import.meta.url))

describe('a full fine-tuning step holds each trained parameter lean', () => {
  it('peaks at ≤ 22 bytes a trained parameter above the model itself: two moments, the gradient, ONNX Runtime\'s copy of it as a run ends', () => {
    // Its own process, so the high-water mark is this run's; the run needs ~1 GB whatever happens (a fixed model).
    const run = spawnSync(process.execPath, ['--import', 'tsx', child], { encoding: 'utf8', timeout: 300_000 })
    expect(run.status, run.stderr).toBe(0)
    const { parameters, withModelBytes, peakBytes } = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { parameters: number; withModelBytes: number; peakBytes: number }
    const perParameter = (peakBytes - withModelBytes) / parameters
    // m and v (8) and the gradient (4) stay; as the gradients graph returns, ONNX Runtime's output and Node's copy
    // of it exist together (4 more). A step that copied every weight, moment or gradient once more would pass 20.
    expect(perParameter).toBeLessThan(22)
  })
})
