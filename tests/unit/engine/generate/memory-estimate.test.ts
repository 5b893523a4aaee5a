/**
 * Memory honesty: the estimate of a model's runtime memory per precision,
 * and a load refused before any weight is read when the budget is short,
 * naming the precision that would fit.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { estimateMemory, InsufficientMemoryError, PLANNED_CONTEXT_TOKENS, weightBytes } from '../../../../src-main/engine/generate/memory-estimate'
import { ModelSession } from '../../../../src-main/engine/generate/model-session'
import { exportModel } from '../../../../src-main/engine/model/export'
import { parseQuantizationSection } from '../../../../src-main/engine/model/quant/prequantized-config'
import { slotSize, weightSlots } from '../../../../src-main/engine/model/weight-map'
import { tinyConfig, tinyWeights } from './random-model'
import { writePrequantizedFolder } from './prequantized-folder'

const root = mkdtempSync(join(tmpdir(), 'sorted-memory-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

/** Llama-3.2-1B's shape, untied. */
const llama1b = tinyConfig({ architecture: 'llama', layers: 16, hidden: 2048, heads: 32, kvHeads: 8, intermediate: 8192, vocab: 128256 })
llama1b.maxPositionEmbeddings = 131072

describe('memory estimate', () => {
  it('fp32 weights are 4 bytes a value; int8 and int4 hold MatMulNBits blocks and an int8 head', () => {
    const values = weightSlots(llama1b).reduce((sum, slot) => sum + slotSize(slot), 0)
    expect(weightBytes(llama1b, 'fp32', 32)).toBe(4 * values)
    const linear = weightSlots(llama1b).filter((s) => s.role === 'linear').reduce((sum, slot) => sum + slotSize(slot), 0)
    const floats = values - linear - 128256 * 2048
    const head8 = 128256 * 2048 + (128256 * 2048 * 4) / 32
    // int4 block 32: half a byte a value + one fp32 scale per 32 values.
    expect(weightBytes(llama1b, 'int4', 32)).toBe(linear / 2 + (linear / 32) * 4 + head8 + 4 * floats)
    expect(weightBytes(llama1b, 'int8', 32)).toBe(linear + (linear / 32) * 4 + head8 + 4 * floats)
    // A GPTQ checkpoint with group 128 and zero points: bigger blocks, one zero-point nibble per block.
    const gptq = parseQuantizationSection({ quant_method: 'gptq', bits: 4, group_size: 128, desc_act: false, sym: false }, 'config.json')
    expect(weightBytes(llama1b, 'int4', 32, gptq)).toBe(linear / 2 + (linear / 128) * 4 + linear / 128 / 2 + head8 + 4 * floats)
  })

  it('plans the KV cache for the context, at most 4096 tokens, and adds the runtime share', () => {
    const e = estimateMemory(llama1b, 'int4')
    expect(e.contextTokens).toBe(PLANNED_CONTEXT_TOKENS)
    expect(e.kvCacheBytes).toBe(16 * 2 * 8 * 64 * 4096 * 4)
    expect(e.runtimeBytes).toBe(256 * 2 ** 20 + Math.round(0.1 * e.weightBytes))
    expect(e.totalBytes).toBe(e.weightBytes + e.kvCacheBytes + e.runtimeBytes)
    const short = { ...llama1b, maxPositionEmbeddings: 512 }
    expect(estimateMemory(short, 'int4').contextTokens).toBe(512)
  })
})

describe('loading with a small memory budget', () => {
  const config = tinyConfig({ architecture: 'llama', layers: 2, hidden: 64, heads: 4, kvHeads: 2, intermediate: 128, vocab: 64 })
  const dir = join(root, 'float')
  exportModel({ config, weights: tinyWeights(config, 3) }, dir)
  const fp32 = estimateMemory(config, 'fp32')
  const int8 = estimateMemory(config, 'int8')
  const int4 = estimateMemory(config, 'int4')

  it('refuses fp32 before reading weights, naming the estimate, what is available and the precision that fits', async () => {
    const error = await ModelSession.open(dir, { availableMemory: int8.totalBytes }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(InsufficientMemoryError)
    const gb = (b: number) => `${(b / 1e9).toFixed(2)} GB`
    expect((error as Error).message).toBe(
      `not enough memory to load this model in fp32: it needs about ${gb(fp32.totalBytes)} (weights ${gb(fp32.weightBytes)}, KV cache for 2048 tokens ${gb(fp32.kvCacheBytes)}, runtime ${gb(fp32.runtimeBytes)}) and ${gb(int8.totalBytes)} is available; in int8 it needs about ${gb(int8.totalBytes)}, which fits: load it with weights int8`,
    )
    const onlyInt4 = await ModelSession.open(dir, { availableMemory: int4.totalBytes }).catch((e: unknown) => e)
    expect((onlyInt4 as InsufficientMemoryError).fits?.precision).toBe('int4')
    const none = await ModelSession.open(dir, { weights: { precision: 'int4' }, availableMemory: int4.totalBytes - 1 }).catch((e: unknown) => e)
    expect((none as Error).message).toMatch(/in int4: .* no precision fits \(int4 is the smallest\): close other programs or use a smaller model$/)
  })

  it('loads when the estimate fits', async () => {
    const session = await ModelSession.open(dir, { weights: { precision: 'int4' }, availableMemory: int4.totalBytes })
    expect(session.info.weights.precision).toBe('int4')
    await session.release()
  })

  it('a GPTQ folder is estimated in its own packing and offers no other precision', async () => {
    const gptqDir = join(root, 'gptq')
    writePrequantizedFolder(gptqDir, config, tinyWeights(config, 3), { method: 'gptq', groupSize: 32, symmetric: true })
    const error = await ModelSession.open(gptqDir, { availableMemory: 1e6 }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(InsufficientMemoryError)
    expect((error as InsufficientMemoryError).estimate.precision).toBe('int4')
    expect((error as InsufficientMemoryError).fits).toBeUndefined()
  })
})
