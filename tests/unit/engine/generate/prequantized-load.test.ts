/**
 * GPTQ and AWQ folders (written in their published packing from known
 * integers) load straight into MatMulNBits weights and compute what the
 * float model they stand for computes; wrong precisions, unsupported variants
 * and broken tensors are one-line errors naming the flag, field or tensor.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ModelSession } from '../../../../src-main/engine/generate/model-session'
import { DynamicDepthRuntime, PrequantizedPrecisionError } from '../../../../src-main/engine/generate/runtime'
import { DynamicSequence } from '../../../../src-main/engine/generate/sequence'
import { inspectModelFolder, loadModelFolder, ModelImportError } from '../../../../src-main/engine/model/import'
import { PrequantizedConfigError } from '../../../../src-main/engine/model/quant/prequantized-config'
import { readSafetensors, writeSafetensors, type TensorToWrite } from '../../../../src-main/engine/model/safetensors'
import { tinyConfig, tinyWeights } from './random-model'
import { closeness, referenceLogits } from './reference'
import { writePrequantizedFolder, type FixtureOptions } from './prequantized-folder'

const root = mkdtempSync(join(tmpdir(), 'sorted-prequantized-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))
let folders = 0

const config = tinyConfig({ architecture: 'llama', heads: 4, kvHeads: 2, hidden: 64, intermediate: 96, layers: 2, vocab: 64 })
const floats = tinyWeights(config, 4)
const prompt = [5, 17, 3, 42, 8, 11]

function folder(options: FixtureOptions): { dir: string; reference: ReturnType<typeof writePrequantizedFolder>['reference'] } {
  const dir = join(root, `m${folders++}`)
  return { dir, reference: writePrequantizedFolder(dir, config, floats, options).reference }
}

async function logitsAtEveryStep(runtime: DynamicDepthRuntime, exit: number): Promise<Float32Array[]> {
  const sequence = new DynamicSequence(runtime)
  const out = [(await sequence.advance(prompt.slice(0, 4), exit)).logits]
  for (let t = 4; t < prompt.length; t++) out.push((await sequence.advance([prompt[t]!], exit)).logits)
  return out
}

describe('pre-quantized folders compute what their packed weights say', () => {
  const cases: [string, FixtureOptions][] = [
    ['GPTQ v1, group 32, asymmetric', { method: 'gptq', groupSize: 32, symmetric: false }],
    ['GPTQ v2, group 64, symmetric', { method: 'gptq', groupSize: 64, symmetric: true, checkpointFormat: 'gptq_v2' }],
    ['GPTQ, one group per row (-1)', { method: 'gptq', groupSize: -1, symmetric: false }],
    ['AWQ GEMM, group 32', { method: 'awq', groupSize: 32, symmetric: false }],
    ['GPTQ with down_proj left unquantized', { method: 'gptq', groupSize: 32, symmetric: false, modulesToNotConvert: ['down_proj'] }],
  ]
  for (const [name, options] of cases) {
    it(`${name}: logits match the dequantized float model at every exit (fp32 activations)`, async () => {
      const { dir, reference } = folder(options)
      const model = loadModelFolder(dir, undefined, { prequantized: 'repack' })
      expect(model.weights.prequantized).toBe(options.method)
      // The packed layers have no float copy at all.
      expect(model.weights.layers[0]!.q.length).toBe(0)
      // A module the checkpoint left unquantized stays fp32 in the int4 graphs (its author kept it for accuracy).
      if (options.modulesToNotConvert) expect(model.weights.layers[0]!.down.length).toBe(config.intermediateSize * config.hiddenSize)
      const runtime = await DynamicDepthRuntime.load(model.config, model.weights, { weights: { precision: 'int4', lmHead: 'fp32', accuracyLevel: 0 } })
      try {
        expect(runtime.weights.precision).toBe('int4')
        for (let exit = 1; exit <= config.numLayers; exit++) {
          const got = await logitsAtEveryStep(runtime, exit)
          got.forEach((logits, step) => {
            const ids = prompt.slice(0, 4 + step)
            expect(closeness(logits, referenceLogits(config, reference, ids, exit).at(-1)!)).toBeLessThan(1e-5)
          })
        }
      } finally {
        await runtime.release()
      }
    })
  }

  it('a symmetric GPTQ folder loads by default as int4 and gives the same logits and tokens as its float model quantized to int4 (same packed tensors)', async () => {
    // Every group holds code 0, so RTN of the float model finds the same scale and codes.
    const { dir, reference } = folder({ method: 'gptq', groupSize: 32, symmetric: true, withMinimumCode: true })
    const session = await ModelSession.open(dir)
    const fromFloats = await DynamicDepthRuntime.load(config, reference, { weights: { precision: 'int4', blockSize: 32 } })
    try {
      expect(session.info.weights).toEqual({ precision: 'int4', blockSize: 32, lmHead: 'int8' })
      const a = await logitsAtEveryStep(session.runtime, config.numLayers)
      const b = await logitsAtEveryStep(fromFloats, config.numLayers)
      expect(a.map((x) => Array.from(x))).toEqual(b.map((x) => Array.from(x)))
      const generated = await session.generate({ input: { promptIds: prompt }, maxNewTokens: 8, exitAt: () => config.numLayers })
      const sequence = new DynamicSequence(fromFloats)
      let logits = (await sequence.advance(prompt, config.numLayers)).logits
      const expected: number[] = []
      for (let i = 0; i < generated.tokens.length; i++) {
        const next = logits.indexOf(Math.max(...logits))
        expected.push(next)
        logits = (await sequence.advance([next], config.numLayers)).logits
      }
      expect(generated.tokens).toEqual(expected)
    } finally {
      await session.release()
      await fromFloats.release()
    }
  })
})

describe('pre-quantized folders: errors', () => {
  it('any precision but int4 is refused, naming the method and the precision', async () => {
    const { dir } = folder({ method: 'gptq', groupSize: 32, symmetric: true })
    const error = await ModelSession.open(dir, { weights: { precision: 'int8' } }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(PrequantizedPrecisionError)
    expect((error as Error).message).toBe('the model holds GPTQ 4-bit weights, so it loads as int4 only, not int8')
    const fp32 = await ModelSession.open(dir, { weights: { precision: 'fp32' } }).catch((e: unknown) => e)
    expect((fp32 as Error).message).toBe('the model holds GPTQ 4-bit weights, so it loads as int4 only, not fp32')
  })

  it('loading for float weights (tuning) is refused, naming config.json', () => {
    const { dir } = folder({ method: 'awq', groupSize: 32, symmetric: false })
    expect(() => loadModelFolder(dir)).toThrow(`${join(dir, 'config.json')}: holds AWQ 4-bit weights (quantization_config): they load for generation only, not as float weights`)
  })

  it('an unsupported variant names the quantization_config field (act-order, 8-bit, AWQ GEMV)', () => {
    const edit = (dir: string, change: (q: Record<string, unknown>) => void) => {
      const file = join(dir, 'config.json')
      const json = JSON.parse(readFileSync(file, 'utf8')) as { quantization_config: Record<string, unknown> }
      change(json.quantization_config)
      writeFileSync(file, JSON.stringify(json))
      return file
    }
    const gptq = folder({ method: 'gptq', groupSize: 32, symmetric: true }).dir
    let file = edit(gptq, (q) => (q.desc_act = true))
    expect(() => inspectModelFolder(gptq)).toThrow(PrequantizedConfigError)
    expect(() => inspectModelFolder(gptq)).toThrow(`${file}: quantization_config.desc_act: act-order`)
    file = edit(gptq, (q) => ((q.desc_act = false), (q.bits = 8)))
    expect(() => inspectModelFolder(gptq)).toThrow(`${file}: quantization_config.bits: only 4-bit checkpoints can be imported, got 8`)
    const awq = folder({ method: 'awq', groupSize: 32, symmetric: false }).dir
    file = edit(awq, (q) => (q.version = 'gemv'))
    expect(() => inspectModelFolder(awq)).toThrow(`${file}: quantization_config.version: "gemv" packing is not supported (supported: gemm)`)
  })

  it('header checks understand the packed names: a wrong qweight shape, a missing qzeros, a float .weight in their place', () => {
    const rewrite = (dir: string, edit: (list: TensorToWrite[]) => TensorToWrite[]) => {
      const file = join(dir, 'model.safetensors')
      const { tensors } = readSafetensors(file)
      // readSafetensors gives floats; integer tensors go back as exact I32, fp16 scales as F16 bits via F16 floats.
      const list: TensorToWrite[] = [...tensors].map(([name, t]): TensorToWrite =>
        t.dtype === 'I32' ? { name, shape: t.shape, dtype: 'I32', data: Int32Array.from(t.data) } : { name, shape: t.shape, data: t.data, dtype: t.dtype === 'F16' ? 'F16' : 'F32' },
      )
      writeSafetensors(file, edit(list), { dtype: 'F32' })
      return file
    }
    const a = folder({ method: 'gptq', groupSize: 32, symmetric: true }).dir
    const qweight = 'model.layers.1.mlp.up_proj.qweight'
    let file = rewrite(a, (list) => list.map((t) => (t.name === qweight ? { ...t, shape: [t.shape[1]!, t.shape[0]!] } : t)))
    expect(() => inspectModelFolder(a)).toThrow(ModelImportError)
    expect(() => inspectModelFolder(a)).toThrow(`${file}: tensor "${qweight}": shape [96, 8] does not match config.json, which implies [8, 96]`)

    const b = folder({ method: 'gptq', groupSize: 32, symmetric: true }).dir
    const qzeros = 'model.layers.0.self_attn.k_proj.qzeros'
    file = rewrite(b, (list) => list.filter((t) => t.name !== qzeros))
    expect(() => inspectModelFolder(b)).toThrow(`${file}: tensor "${qzeros}": missing (config.json's quantization_config implies shape [2, 4] I32)`)

    const c = folder({ method: 'gptq', groupSize: 32, symmetric: true }).dir
    file = rewrite(c, (list) => [...list, { name: 'model.layers.0.self_attn.q_proj.weight', shape: [64, 64], data: new Float32Array(64 * 64) }])
    expect(() => inspectModelFolder(c)).toThrow(`${file}: tensor "model.layers.0.self_attn.q_proj.weight": unexpected tensor`)

    const d = folder({ method: 'gptq', groupSize: 32, symmetric: true }).dir
    const scales = 'model.layers.0.mlp.gate_proj.scales'
    file = rewrite(d, (list) => list.map((t) => (t.name === scales && t.data instanceof Float32Array ? { name: t.name, shape: t.shape, data: t.data, dtype: 'F32' as const } : t)))
    expect(() => inspectModelFolder(d)).toThrow(`${file}: tensor "${scales}": dtype F32 is not F16`)
  })

  it('an act-order g_idx is refused at load, naming the tensor', () => {
    const dir = folder({ method: 'gptq', groupSize: 32, symmetric: true }).dir
    const file = join(dir, 'model.safetensors')
    const { tensors } = readSafetensors(file)
    const gIdx = 'model.layers.0.mlp.down_proj.g_idx'
    const list: TensorToWrite[] = [...tensors].map(([name, t]): TensorToWrite => {
      if (t.dtype === 'I32') return { name, shape: t.shape, dtype: 'I32', data: name === gIdx ? Int32Array.from(t.data, (_, i) => i % 3) : Int32Array.from(t.data) }
      return { name, shape: t.shape, data: t.data, dtype: t.dtype === 'F16' ? 'F16' : 'F32' }
    })
    writeSafetensors(file, list, { dtype: 'F32' })
    expect(() => loadModelFolder(dir, undefined, { prequantized: 'repack' })).toThrow(
      `${file}: model.layers.0.mlp.down_proj.g_idx: input 1 is in group 1, not 0: act-order checkpoints are not supported`,
    )
  })
})
