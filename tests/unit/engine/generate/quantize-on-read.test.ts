/**
 * A quantized load on the CPU quantizes each Linear as it is read (no fp32
 * copy of the decoder layers is kept), and computes exactly what quantizing
 * in the graphs from the whole fp32 model computes.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ModelSession } from '../../../../src-main/engine/generate/model-session'
import { DynamicDepthRuntime } from '../../../../src-main/engine/generate/runtime'
import { DynamicSequence } from '../../../../src-main/engine/generate/sequence'
import { exportModel } from '../../../../src-main/engine/model/export'
import { loadModelFolder, ModelImportError } from '../../../../src-main/engine/model/import'
import { quantizeLinear } from '../../../../src-main/engine/model/quant/blockwise'
import { layerSlots } from '../../../../src-main/engine/model/weight-map'
import type { LinearField } from '../../../../src-main/engine/model/types'
import { tinyConfig, tinyWeights } from './random-model'
import { writePrequantizedFolder } from './prequantized-folder'

const root = mkdtempSync(join(tmpdir(), 'sorted-quantize-on-read-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

const config = tinyConfig({ architecture: 'qwen2', layers: 2, hidden: 64, heads: 4, kvHeads: 2, intermediate: 96, vocab: 64 })
const weights = tinyWeights(config, 11)
const dir = join(root, 'model')
exportModel({ config, weights }, dir)
const prompt = [3, 9, 27, 1, 40]

async function logits(runtime: DynamicDepthRuntime): Promise<number[][]> {
  const sequence = new DynamicSequence(runtime)
  const out = [Array.from((await sequence.advance(prompt.slice(0, 3), config.numLayers)).logits)]
  for (let t = 3; t < prompt.length; t++) out.push(Array.from((await sequence.advance([prompt[t]!], config.numLayers)).logits))
  return out
}

describe('quantizing while reading', () => {
  it('keeps only the packed Linears, quantized exactly as the graphs would', () => {
    const model = loadModelFolder(dir, undefined, { quantize: { precision: 'int4', blockSize: 64 } })
    for (const slot of layerSlots(config, 1)) {
      if (slot.role !== 'linear') continue
      const field = slot.field as LinearField
      expect(model.weights.layers[1]![field].length).toBe(0)
      const expected = quantizeLinear(weights.layers[1]![field], slot.shape[0]!, slot.shape[1]!, { bits: 4, blockSize: 64 })
      expect(model.weights.layers[1]!.prequantized![field]).toEqual(expected)
    }
    // The untied LM head is int8 (as the graphs hold it) with no fp32 copy.
    expect(model.weights.lmHead).toBeUndefined()
    expect(model.weights.lmHeadPacked).toEqual(quantizeLinear(weights.lmHead!, config.vocabSize, config.hiddenSize, { bits: 8, blockSize: 64 }))
    // Biases and norms load as floats.
    expect(model.weights.layers[1]!.qBias).toEqual(weights.layers[1]!.qBias)
    expect(model.weights.layers[1]!.attnNorm).toEqual(weights.layers[1]!.attnNorm)
  })

  for (const [precision, blockSize] of [['int4', 32], ['int8', 128]] as const) {
    it(`${precision}, block ${blockSize}: a session on the CPU gives the same logits as quantizing the fp32 model in the graphs`, async () => {
      const cacheDir = join(root, `cache-${precision}`)
      // Twice with a graph cache: compiled, then read back from the cache.
      await (await ModelSession.open(dir, { weights: { precision, blockSize }, cacheDir })).release()
      const session = await ModelSession.open(dir, { weights: { precision, blockSize }, cacheDir })
      const fromFloats = await DynamicDepthRuntime.load(config, weights, { weights: { precision, blockSize } })
      try {
        expect(session.runtime.weights.precision).toBe(precision)
        expect(await logits(session.runtime)).toEqual(await logits(fromFloats))
      } finally {
        await session.release()
        await fromFloats.release()
      }
    })
  }

  it('a pre-quantized folder is never quantized again', () => {
    const gptq = join(root, 'gptq')
    writePrequantizedFolder(gptq, config, weights, { method: 'gptq', groupSize: 32, symmetric: true })
    expect(() => loadModelFolder(gptq, undefined, { prequantized: 'repack', quantize: { precision: 'int4' } })).toThrow(ModelImportError)
  })
})
