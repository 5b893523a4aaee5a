/** A provider that cannot run MatMulNBits: the model loads in fp32, and says why. */
import { describe, expect, it, vi } from 'vitest'
import { DynamicDepthRuntime } from '../../../../src-main/engine/generate/runtime'
import { DynamicSequence } from '../../../../src-main/engine/generate/sequence'
import { tinyConfig, tinyWeights } from './random-model'
import { referenceLogits } from './reference'

// Stands for a provider whose probe session fails (as MatMulNBits does on some DirectML/WebGPU builds).
vi.mock(import('../../../../src-main/engine/onnx/contrib'), async (original) => ({ ...(await original()), contribOpSupported: async () => false }))

describe('int4 asked for where MatMulNBits does not run', () => {
  it('loads fp32 weights, logs the reason and reports it', async () => {
    const config = tinyConfig({ layers: 2, vocab: 50 })
    const weights = tinyWeights(config, 2)
    const log = vi.fn()
    const runtime = await DynamicDepthRuntime.load(config, weights, { weights: { precision: 'int4' }, log })
    expect(runtime.weights.precision).toBe('fp32')
    expect(runtime.weightsFallbackReason).toBe("int4 weights need ONNX Runtime's MatMulNBits, which the cpu provider does not run: loaded in fp32")
    expect(log).toHaveBeenCalledWith(runtime.weightsFallbackReason)
    // And the model runs, in fp32.
    const { logits } = await new DynamicSequence(runtime).advance([3, 4, 5], 2)
    const expected = referenceLogits(config, weights, [3, 4, 5], 2).at(-1)!
    expect(Math.max(...Array.from(expected, (e, i) => Math.abs(logits[i]! - e)))).toBeLessThan(1e-4)
    await runtime.release()
  })
})
