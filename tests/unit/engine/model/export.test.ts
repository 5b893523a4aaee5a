import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../../../src-main/engine/model/config'
import { exportModel, ModelExportError } from '../../../../src-main/engine/model/export'
import { loadModelFolder } from '../../../../src-main/engine/model/import'
import { weightOf, weightSlots } from '../../../../src-main/engine/model/weight-map'
import { roundToDtype, type FloatDtype } from '../../../../src-main/engine/model/safetensors'
import type { Architecture, LoadedModel } from '../../../../src-main/engine/model/types'
import { writeRandomModel, type RandomModelOptions } from '../../../fixtures/fixtures'

const root = mkdtempSync(join(tmpdir(), 'export-test-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))
let counter = 0
const fresh = (name = 'out') => join(root, `${name}${counter++}`)

const tiny = { layers: 2, hidden: 16, heads: 4, kvHeads: 2, intermediate: 24, vocab: 32, seed: 11, dtype: 'F32' } as const

function loadFixture(options: Partial<RandomModelOptions> = {}): LoadedModel {
  const dir = fresh('src')
  writeRandomModel(dir, { architecture: 'llama', ...tiny, ...options })
  return loadModelFolder(dir)
}

/** Plain-code reading of an exported model.safetensors: the header as JSON and the data size. */
function plainHeader(file: string): { header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>; headerLength: number; dataBytes: number } {
  const bytes = readFileSync(file)
  const headerLength = Number(bytes.readBigUInt64LE(0))
  return { header: JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')), headerLength, dataBytes: bytes.length - 8 - headerLength }
}

/** Names of the leftover staging folders beside outputs in `root`. */
const leftovers = () => readdirSync(root).filter((n) => n.startsWith('.'))

describe('exportModel → loadModelFolder round trip', () => {
  const architectures: Architecture[] = ['llama', 'mistral', 'qwen2', 'qwen3']
  const dtypes: FloatDtype[] = ['F32', 'F16', 'BF16']

  it.each(architectures.flatMap((architecture) => dtypes.map((dtype, i) => ({ architecture, dtype, tied: i === 1 }))))(
    '$architecture as $dtype (tied $tied)',
    ({ architecture, dtype, tied }) => {
      const source = loadFixture({ architecture, tied, ...(architecture === 'qwen3' ? { headDim: 8 } : {}) })
      const out = fresh()
      const result = exportModel(source, out, { dtype })
      expect(result.dir).toBe(out)
      const again = loadModelFolder(out)

      const { raw: rawAgain, ...configAgain } = again.config
      const { raw: rawSource, ...configSource } = source.config
      expect(configAgain).toEqual(configSource)
      expect(rawAgain.torch_dtype).toBe({ F32: 'float32', F16: 'float16', BF16: 'bfloat16' }[dtype])
      expect({ ...rawAgain, torch_dtype: rawSource.torch_dtype }).toMatchObject(rawSource)

      for (const slot of weightSlots(source.config)) {
        const original = weightOf(source.weights, slot) as Float32Array
        const exported = weightOf(again.weights, slot) as Float32Array
        // Exact for F32; for F16/BF16, exactly the nearest representable value.
        expect(exported, slot.name).toEqual(roundToDtype(original, dtype))
        const tolerance = { F32: 0, F16: 2 ** -11, BF16: 2 ** -8 }[dtype]
        original.forEach((x, i) => expect(Math.abs((exported[i] as number) - x)).toBeLessThanOrEqual(Math.abs(x) * tolerance + 2 ** -24))
      }
      expect(again.weights.lmHead === undefined).toBe(tied)
    },
  )

  it('the exported file passes an independent header check', () => {
    const source = loadFixture({ architecture: 'qwen2', tied: true })
    const out = fresh()
    exportModel(source, out, { dtype: 'BF16' })
    const { header, headerLength, dataBytes } = plainHeader(join(out, 'model.safetensors'))
    expect(headerLength % 8).toBe(0)
    const { __metadata__: metadata, ...tensors } = header as Record<string, unknown>
    expect(metadata).toEqual({ format: 'pt' })
    const expectedNames = ['model.embed_tokens.weight', 'model.norm.weight']
    for (let i = 0; i < 2; i++) {
      for (const p of ['q_proj.weight', 'k_proj.weight', 'v_proj.weight', 'o_proj.weight', 'q_proj.bias', 'k_proj.bias', 'v_proj.bias']) expectedNames.push(`model.layers.${i}.self_attn.${p}`)
      for (const p of ['gate_proj', 'up_proj', 'down_proj']) expectedNames.push(`model.layers.${i}.mlp.${p}.weight`)
      expectedNames.push(`model.layers.${i}.input_layernorm.weight`, `model.layers.${i}.post_attention_layernorm.weight`)
    }
    expect(Object.keys(tensors).sort()).toEqual(expectedNames.sort()) // tied: no lm_head
    const entries = Object.values(header).filter((v): v is { dtype: string; shape: number[]; data_offsets: [number, number] } => 'dtype' in (v as object))
    entries.sort((a, b) => a.data_offsets[0] - b.data_offsets[0])
    let position = 0
    for (const e of entries) {
      expect(e.dtype).toBe('BF16')
      expect(e.data_offsets[0]).toBe(position)
      expect(e.data_offsets[1] - e.data_offsets[0]).toBe(2 * e.shape.reduce((n, s) => n * s, 1))
      position = e.data_offsets[1]
    }
    expect(position).toBe(dataBytes)
    expect(header['model.layers.1.self_attn.k_proj.weight']?.shape).toEqual([8, 16])
    expect(header['model.embed_tokens.weight']?.shape).toEqual([32, 16])

    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'))
    expect(config).toMatchObject({ architectures: ['Qwen2ForCausalLM'], torch_dtype: 'bfloat16', tie_word_embeddings: true, num_hidden_layers: 2 })
  })

  it('copies the tokenizer files from the model folder, and writes sorted.json', () => {
    const files = { 'tokenizer.json': { version: '1.0' }, 'tokenizer_config.json': { chat_template: '{{x}}' }, 'special_tokens_map.json': {}, 'generation_config.json': { do_sample: false }, 'notes.txt': 'not copied' }
    const source = loadFixture({ files: { ...files, 'sorted.json': { exits: [1, 2], results: { '1': { ppl: 9 } }, seed: 4 } } })
    const out = fresh()
    const result = exportModel(source, out)
    expect(result.files).toEqual(['config.json', 'generation_config.json', 'model.safetensors', 'sorted.json', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json'])
    expect(readdirSync(out).sort()).toEqual(result.files)
    expect(readFileSync(join(out, 'tokenizer_config.json'), 'utf8')).toBe(readFileSync(join(source.dir, 'tokenizer_config.json'), 'utf8'))
    const again = loadModelFolder(out)
    expect(again.sorted).toEqual({ exits: [1, 2], results: { '1': { ppl: 9 } }, seed: 4 })
    expect(again.tokenizerFiles).toEqual(['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json'])
  })

  it('takes tokenizer files from tokenizerFrom, and exports a bare {config, weights}', () => {
    const tokenizerDir = fresh('tok')
    mkdirSync(tokenizerDir)
    writeFileSync(join(tokenizerDir, 'tokenizer.json'), '{"model": {}}')
    const { config, weights } = loadFixture({ architecture: 'qwen3' })
    const out = fresh()
    exportModel({ config, weights }, out, { tokenizerFrom: tokenizerDir })
    expect(readdirSync(out).sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json'])
    expect(() => exportModel({ config, weights }, fresh(), { tokenizerFrom: join(root, 'missing') })).toThrow(ModelExportError)
  })

  it('writes a sub-model whose config was cut to fewer layers', () => {
    const source = loadFixture({ layers: 3, files: { 'sorted.json': { exits: [1, 3] } } })
    const out = fresh()
    const config = { ...source.config, numLayers: 1 }
    exportModel({ config, weights: { ...source.weights, layers: source.weights.layers.slice(0, 1) }, sorted: { exits: [1], results: {} } }, out)
    const again = loadModelFolder(out)
    expect(again.config.numLayers).toBe(1)
    expect(again.config.raw.num_hidden_layers).toBe(1)
    expect(again.weights.layers[0]?.q).toEqual(source.weights.layers[0]?.q)
    expect(again.sorted?.exits).toEqual([1])
  })

  it('a config.json it writes parses to the same ModelConfig', () => {
    const source = loadFixture({ architecture: 'llama', config: { rope_scaling: { type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 }, eos_token_id: [2, 3] } })
    const out = fresh()
    exportModel(source, out)
    const written = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'))
    const { raw: _, ...parsed } = parseConfig(written, 'x')
    const { raw: __, ...original } = source.config
    expect(parsed).toEqual(original)
  })
})

describe('exportModel: never leaves a half-written folder', () => {
  it('refuses a non-empty outDir, and replaces it with overwrite', () => {
    const source = loadFixture()
    const out = fresh()
    mkdirSync(out)
    writeFileSync(join(out, 'keep.txt'), 'mine')
    expect(() => exportModel(source, out)).toThrow(new RegExp(`${out}: exists and is not empty \\(pass overwrite to replace it\\)`))
    expect(readdirSync(out)).toEqual(['keep.txt'])
    exportModel(source, out, { overwrite: true })
    expect(readdirSync(out).sort()).toEqual(['config.json', 'model.safetensors'])
    expect(leftovers()).toEqual([])
  })

  it('writes into an existing empty folder', () => {
    const out = fresh()
    mkdirSync(out)
    exportModel(loadFixture(), out)
    expect(readdirSync(out).sort()).toEqual(['config.json', 'model.safetensors'])
  })

  it('refuses a file as outDir', () => {
    const out = fresh()
    writeFileSync(out, 'x')
    expect(() => exportModel(loadFixture(), out)).toThrow(/exists and is not a folder/)
  })

  it('re-exports a model over its own folder, keeping its tokenizer files', () => {
    const source = loadFixture({ files: { 'tokenizer.json': '{}' } })
    exportModel(source, source.dir, { overwrite: true, dtype: 'BF16' })
    expect(readdirSync(source.dir).sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json'])
    expect(loadModelFolder(source.dir).config.raw.torch_dtype).toBe('bfloat16')
    expect(leftovers()).toEqual([])
  })

  it.each([
    ['a weight of the wrong size', (m: LoadedModel) => ({ ...m, weights: { ...m.weights, norm: new Float32Array(15) } }), /tensor "model\.norm\.weight": has 15 values, but \[16\] from the config needs 16/],
    ['a missing layer', (m: LoadedModel) => ({ ...m, weights: { ...m.weights, layers: m.weights.layers.slice(1) } }), /weights have 1 layers but the config says 2/],
    ['an untied head missing', (m: LoadedModel) => ({ ...m, weights: { ...m.weights, lmHead: undefined } }), /tensor "lm_head\.weight": missing from the weights/],
    ['a tied config with a separate head', (m: LoadedModel) => ({ ...m, config: { ...m.config, tieWordEmbeddings: true } }), /tensor "lm_head\.weight": the config ties embeddings/],
    [
      'a bias the architecture has no slot for',
      (m: LoadedModel) => ({ ...m, weights: { ...m.weights, layers: m.weights.layers.map((l) => ({ ...l, qBias: new Float32Array(16) })) } }),
      /tensor "layer 0 qBias": present, but a LlamaForCausalLM with this config has no such weight/,
    ],
    ['sorted exits beyond the layers', (m: LoadedModel) => ({ ...m, sorted: { exits: [1, 5], results: {} } }), /exit 5 is outside 1\.\.2/],
  ])('refuses %s and writes nothing', (_, edit, message) => {
    const out = fresh()
    expect(() => exportModel(edit(loadFixture()), out)).toThrow(message)
    expect(existsSync(out)).toBe(false)
    expect(leftovers()).toEqual([])
  })

  it('a failure while writing leaves an existing outDir untouched and no staging folder', () => {
    const source = loadFixture({ files: { 'tokenizer.json': '{}' } })
    const out = fresh()
    exportModel(source, out)
    const before = readFileSync(join(out, 'model.safetensors'))
    // A tokenizer "file" that is a folder makes the copy fail after the weights are written.
    const tokenizerDir = fresh('tok')
    mkdirSync(join(tokenizerDir, 'tokenizer.json'), { recursive: true })
    expect(() => exportModel(source, out, { overwrite: true, tokenizerFrom: tokenizerDir, dtype: 'F16' })).toThrow()
    expect(readFileSync(join(out, 'model.safetensors'))).toEqual(before)
    expect(readdirSync(out).sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json'])
    expect(leftovers()).toEqual([])
  })
})
