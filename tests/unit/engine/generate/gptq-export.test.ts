/**
 * int4 models written as GPTQ folders: the published tensor names, shapes and
 * dtypes, quantization_config in config.json, and a round trip — the folder
 * loads (as int4, its own packing) to exactly the logits of the original
 * model loaded with --weights int4 at the same block size.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ModelSession } from '../../../../src-main/engine/generate/model-session'
import { DynamicDepthRuntime } from '../../../../src-main/engine/generate/runtime'
import { DynamicSequence } from '../../../../src-main/engine/generate/sequence'
import { exportModel, ModelExportError } from '../../../../src-main/engine/model/export'
import { gptqQuantizationConfig } from '../../../../src-main/engine/model/quant/gptq'
import { readSafetensorsHeader, roundToDtype } from '../../../../src-main/engine/model/safetensors'
import type { ModelWeights } from '../../../../src-main/engine/model/types'
import { tinyConfig, tinyWeights } from './random-model'

const root = mkdtempSync(join(tmpdir(), 'sorted-gptq-export-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

const prompt = [5, 17, 3, 42, 8, 11]

/** Weights as a fp16/bf16 checkpoint holds them: every block's largest value, hence its RTN scale, is then exact in fp16. */
function fp16Weights(weights: ModelWeights): ModelWeights {
  const r = (a: Float32Array) => roundToDtype(a, 'F16')
  return {
    embed: r(weights.embed),
    norm: r(weights.norm),
    lmHead: weights.lmHead && r(weights.lmHead),
    layers: weights.layers.map((l) => Object.fromEntries(Object.entries(l).map(([k, v]) => [k, r(v as Float32Array)])) as unknown as ModelWeights['layers'][number]),
  }
}

async function logits(runtime: DynamicDepthRuntime, exit: number): Promise<number[][]> {
  const sequence = new DynamicSequence(runtime)
  const out = [Array.from((await sequence.advance(prompt.slice(0, 4), exit)).logits)]
  for (let t = 4; t < prompt.length; t++) out.push(Array.from((await sequence.advance([prompt[t]!], exit)).logits))
  return out
}

describe('int4 → GPTQ folder → int4', () => {
  for (const [name, shape, blockSize] of [
    ['Llama, GQA, block 32', { architecture: 'llama', heads: 4, kvHeads: 2, hidden: 64, intermediate: 128, tied: false }, 32],
    ['Qwen2 (biases), tied, block 64', { architecture: 'qwen2', heads: 4, kvHeads: 2, hidden: 64, intermediate: 128, tied: true }, 64],
  ] as const) {
    it(`${name}: same logits at every exit as the original with --weights int4, and the published layout`, async () => {
      const config = tinyConfig({ ...shape, layers: 2, vocab: 64 })
      const weights = fp16Weights(tinyWeights(config, 7))
      const source = join(root, `${config.architecture}-source`)
      exportModel({ config, weights, sorted: { exits: [1, 2], results: {} } }, source)
      writeFileSync(join(source, 'tokenizer_config.json'), '{}')
      const out = join(root, `${config.architecture}-gptq`)
      const written = exportModel({ config, weights, sorted: { exits: [1, 2], results: {} }, dir: source }, out, { gptq: { blockSize } })
      expect(written.files).toEqual(['config.json', 'model.safetensors', 'sorted.json', 'tokenizer_config.json'])

      const json = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, unknown>
      expect(json.quantization_config).toEqual(gptqQuantizationConfig(blockSize))
      const header = readSafetensorsHeader(join(out, 'model.safetensors')).tensors
      const up = 'model.layers.1.mlp.up_proj'
      expect([header.get(`${up}.qweight`)?.dtype, header.get(`${up}.qweight`)?.shape]).toEqual(['I32', [64 / 8, 128]])
      expect([header.get(`${up}.qzeros`)?.dtype, header.get(`${up}.qzeros`)?.shape]).toEqual(['I32', [64 / blockSize, 128 / 8]])
      expect([header.get(`${up}.scales`)?.dtype, header.get(`${up}.scales`)?.shape]).toEqual(['F16', [64 / blockSize, 128]])
      expect([header.get(`${up}.g_idx`)?.dtype, header.get(`${up}.g_idx`)?.shape]).toEqual(['I32', [64]])
      expect(header.has(`${up}.weight`)).toBe(false)
      expect(header.get('model.embed_tokens.weight')?.dtype).toBe('F32')

      // With no --weights the folder loads int4 (its own packing).
      const byDefault = await ModelSession.open(out)
      expect(byDefault.info.weights).toEqual({ precision: 'int4', blockSize: 32, lmHead: 'int8' })
      expect(byDefault.info.exits).toEqual([1, 2])
      await byDefault.release()
      // --block-size sets the int8 LM head's block as for the original, so only the packed layers could differ.
      const loaded = await ModelSession.open(out, { weights: { precision: 'int4', blockSize } })
      const original = await DynamicDepthRuntime.load(config, weights, { weights: { precision: 'int4', blockSize } })
      try {
        for (let exit = 1; exit <= config.numLayers; exit++) expect(await logits(loaded.runtime, exit)).toEqual(await logits(original, exit))
      } finally {
        await loaded.release()
        await original.release()
      }
    })
  }

  it('a layer whose inputs are not whole groups is refused, naming the tensor; nothing is written', () => {
    const config = tinyConfig({ architecture: 'llama', heads: 4, kvHeads: 2, hidden: 64, intermediate: 96, layers: 1, vocab: 64 })
    const out = join(root, 'refused')
    const error = (() => {
      try {
        exportModel({ config, weights: tinyWeights(config, 2) }, out, { gptq: { blockSize: 64 } })
      } catch (e) {
        return e
      }
      return undefined
    })()
    expect(error).toBeInstanceOf(ModelExportError)
    expect((error as Error).message).toBe(
      `${join(out, 'model.safetensors')}: tensor "model.layers.0.mlp.down_proj.weight": model.layers.0.mlp.down_proj: K = 96 is not a multiple of the block size 64; GPTQ needs whole groups`,
    )
    expect(() => readFileSync(join(out, 'config.json'))).toThrow()
  })
})
