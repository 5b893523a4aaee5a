import { mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ConfigError } from '../../../../src-main/engine/model/config'
import { inspectModelFolder, loadModelFolder, ModelImportError, openModelFolder } from '../../../../src-main/engine/model/import'
import { readSafetensors, SafetensorsError, writeSafetensors, type FloatTensorToWrite } from '../../../../src-main/engine/model/safetensors'
import type { Architecture, LoadedModel } from '../../../../src-main/engine/model/types'
import type { LayerField } from '../../../../src-main/engine/model/weight-map'
import { writeRandomModel, type RandomModel, type RandomModelOptions } from '../../../fixtures/fixtures'

const root = mkdtempSync(join(tmpdir(), 'import-test-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))
let counter = 0

const tiny = { layers: 2, hidden: 16, heads: 4, kvHeads: 2, intermediate: 24, vocab: 32, seed: 7 } as const

/** A fresh fixture folder. */
function fixture(options: Partial<RandomModelOptions> = {}): RandomModel {
  return writeRandomModel(join(root, `m${counter++}`), { architecture: 'llama', dtype: 'F32', ...tiny, ...options })
}

/** Rewrites one safetensors file of a folder (as F32) after `edit` changes its tensor list. */
function rewrite(file: string, edit: (tensors: FloatTensorToWrite[]) => FloatTensorToWrite[]): void {
  const { tensors } = readSafetensors(file)
  const list = [...tensors].map(([name, t]) => ({ name, shape: t.shape, data: t.data }))
  writeSafetensors(file, edit(list), { dtype: 'F32' })
}

/** The error loadModelFolder throws for `dir`. */
function loadError(dir: string): Error {
  try {
    loadModelFolder(dir)
  } catch (error) {
    return error as Error
  }
  throw new Error('expected loading to fail')
}

/** HF layer tensor suffix → LayerWeights field, spelled out here independently of the importer. */
const LAYER_FIELDS: Record<string, LayerField> = {
  'input_layernorm.weight': 'attnNorm',
  'self_attn.q_proj.weight': 'q',
  'self_attn.k_proj.weight': 'k',
  'self_attn.v_proj.weight': 'v',
  'self_attn.o_proj.weight': 'o',
  'self_attn.q_proj.bias': 'qBias',
  'self_attn.k_proj.bias': 'kBias',
  'self_attn.v_proj.bias': 'vBias',
  'self_attn.q_norm.weight': 'qNorm',
  'self_attn.k_norm.weight': 'kNorm',
  'post_attention_layernorm.weight': 'mlpNorm',
  'mlp.gate_proj.weight': 'gate',
  'mlp.up_proj.weight': 'up',
  'mlp.down_proj.weight': 'down',
}

/** Every tensor the fixture wrote is where it belongs in the loaded weights, and nothing else is there. */
function expectWeightsMatch(loaded: LoadedModel, model: RandomModel): void {
  const w = loaded.weights
  let count = 0
  for (const [name, { data }] of model.tensors) {
    const layer = /^model\.layers\.(\d+)\.(.+)$/.exec(name)
    let got: Float32Array | undefined
    if (layer) got = w.layers[Number(layer[1])]?.[LAYER_FIELDS[layer[2] as string] as LayerField]
    else if (name === 'model.embed_tokens.weight') got = w.embed
    else if (name === 'model.norm.weight') got = w.norm
    else if (name === 'lm_head.weight') got = w.lmHead
    if (name === 'lm_head.weight' && loaded.config.tieWordEmbeddings) continue
    expect(got, name).toEqual(data)
    count++
  }
  const held = w.layers.reduce((n, l) => n + Object.values(l).filter((x) => x !== undefined).length, 2 + (w.lmHead ? 1 : 0))
  expect(held).toBe(count)
}

describe('loadModelFolder: every architecture, single file and sharded, tied and untied', () => {
  const architectures: Architecture[] = ['llama', 'mistral', 'qwen2', 'qwen3']
  const cases = architectures.flatMap((architecture, a) =>
    [1, 3].flatMap((shards) =>
      [false, true].map((tied, t) => ({ architecture, shards, tied, dtype: (['F32', 'F16', 'BF16'] as const)[(a + shards + t) % 3] as 'F32' | 'F16' | 'BF16' })),
    ),
  )

  it.each(cases)('$architecture, $shards shard(s), tied $tied, $dtype', ({ architecture, shards, tied, dtype }) => {
    // Qwen3's head_dim (8) is deliberately not hidden/heads (4).
    const headDim = architecture === 'qwen3' ? 8 : undefined
    const model = fixture({ architecture, shards, tied, dtype, ...(headDim ? { headDim } : {}) })
    const loaded = loadModelFolder(model.dir)
    expect(loaded.dir).toBe(model.dir)
    expect(loaded.config).toMatchObject({ architecture, numLayers: 2, hiddenSize: 16, numHeads: 4, numKvHeads: 2, headDim: headDim ?? 4, tieWordEmbeddings: tied })
    expect(loaded.config.raw).toEqual(model.config)
    expectWeightsMatch(loaded, model)
    expect(loaded.weights.lmHead === undefined).toBe(tied)
    for (const layer of loaded.weights.layers) {
      expect(layer.qBias !== undefined && layer.kBias !== undefined && layer.vBias !== undefined).toBe(architecture === 'qwen2')
      expect(layer.qNorm !== undefined && layer.kNorm !== undefined).toBe(architecture === 'qwen3')
    }
    expect(loaded.tokenizerFiles).toEqual([])
    expect(loaded.sorted).toBeUndefined()
  })
})

describe('loadModelFolder: beside the weights', () => {
  it('lists the tokenizer files present', () => {
    const model = fixture({ files: { 'tokenizer.json': { model: {} }, 'tokenizer_config.json': {}, 'generation_config.json': {}, 'README.md': 'hi' } })
    expect(loadModelFolder(model.dir).tokenizerFiles).toEqual(['tokenizer.json', 'tokenizer_config.json', 'generation_config.json'])
  })

  it('reads sorted.json', () => {
    const sorted = { exits: [1, 2], results: { '1': { accuracy: 0.5 } }, seed: 3 }
    expect(loadModelFolder(fixture({ files: { 'sorted.json': sorted } }).dir).sorted).toEqual(sorted)
    expect(loadModelFolder(fixture({ files: { 'sorted.json': { exits: [2] } } }).dir).sorted).toEqual({ exits: [2], results: {} })
  })

  it.each([
    [{ exits: [2, 1] }, /field "exits": \[2, 1\] is not strictly ascending/],
    [{ exits: [1, 1] }, /not strictly ascending/],
    [{ exits: [0, 2] }, /exit 0 is outside 1\.\.2/],
    [{ exits: [1, 3] }, /exit 3 is outside 1\.\.2/],
    [{ exits: [] }, /field "exits"/],
    [{ exits: [1.5] }, /field "exits\.0"/],
    [{ exits: [2], results: { '2': { accuracy: 'high' } } }, /field "results\.2\.accuracy"/],
  ])('refuses sorted.json %j', (sorted, message) => {
    const model = fixture({ files: { 'sorted.json': sorted } })
    const e = loadError(model.dir)
    expect(e).toBeInstanceOf(ModelImportError)
    expect(e.message).toMatch(new RegExp(`^${join(model.dir, 'sorted.json')}: `))
    expect(e.message).toMatch(message)
  })

  it('reports progress from 0 to 1 as bytes are read', () => {
    const seen: number[] = []
    loadModelFolder(fixture({ shards: 2 }).dir, (fraction) => seen.push(fraction))
    expect(seen[0]).toBe(0)
    expect(seen.at(-1)).toBe(1)
    expect(seen.every((f, i) => i === 0 || f >= (seen[i - 1] as number))).toBe(true)
    expect(seen.length).toBeGreaterThan(20)
  })

  it('loads shards that lack their index', () => {
    const model = fixture({ shards: 3 })
    unlinkSync(join(model.dir, 'model.safetensors.index.json'))
    expectWeightsMatch(loadModelFolder(model.dir), model)
  })

  it('ignores a saved lm_head when embeddings are tied, and a saved rotary table', () => {
    const model = fixture({ tied: true })
    const file = join(model.dir, 'model.safetensors')
    rewrite(file, (list) => [
      ...list,
      { name: 'lm_head.weight', shape: [32, 16], data: new Float32Array(32 * 16) },
      { name: 'model.layers.0.self_attn.rotary_emb.inv_freq', shape: [2], data: Float32Array.of(1, 0.01) },
    ])
    const loaded = loadModelFolder(model.dir)
    expect(loaded.weights.lmHead).toBeUndefined()
    expectWeightsMatch(loaded, model)
  })
})

describe('loadModelFolder: broken folders name the file and the tensor', () => {
  it('a folder without config.json', () => {
    const model = fixture()
    unlinkSync(join(model.dir, 'config.json'))
    expect(loadError(model.dir).message).toBe(`${join(model.dir, 'config.json')}: missing: not a Hugging Face model folder`)
  })

  it('a config.json that is not JSON', () => {
    const model = fixture()
    writeFileSync(join(model.dir, 'config.json'), '{"architectures": [')
    expect(loadError(model.dir).message).toMatch(new RegExp(`^${join(model.dir, 'config.json')}: not valid JSON`))
  })

  it('an unsupported config', () => {
    const model = fixture({ config: { architectures: ['GPT2LMHeadModel'] } })
    const e = loadError(model.dir)
    expect(e).toBeInstanceOf(ConfigError)
    expect(e.message).toMatch(new RegExp(`^${join(model.dir, 'config.json')}: field "architectures"`))
  })

  it('a path that is not a folder, and a folder with no weights', () => {
    expect(loadError(join(root, 'nowhere')).message).toMatch(/nowhere: is not a folder/)
    const empty = join(root, `empty${counter++}`)
    mkdirSync(empty)
    writeFileSync(join(empty, 'config.json'), readFileSync(join(fixture().dir, 'config.json')))
    expect(loadError(empty).message).toMatch(/no model\.safetensors or model\.safetensors\.index\.json/)
    writeFileSync(join(empty, 'pytorch_model.bin'), '')
    expect(loadError(empty).message).toMatch(/PyTorch pickle weights only/)
  })

  it('a missing tensor (single file) names model.safetensors', () => {
    const model = fixture()
    const file = join(model.dir, 'model.safetensors')
    rewrite(file, (list) => list.filter((t) => t.name !== 'model.layers.1.mlp.up_proj.weight'))
    const e = loadError(model.dir) as ModelImportError
    expect(e).toBeInstanceOf(ModelImportError)
    expect(e.file).toBe(file)
    expect(e.tensor).toBe('model.layers.1.mlp.up_proj.weight')
    expect(e.message).toBe(`${file}: tensor "model.layers.1.mlp.up_proj.weight": missing (expected shape [24, 16])`)
  })

  it('a missing tensor (sharded) names the index', () => {
    const model = fixture({ shards: 2, architecture: 'qwen2' })
    const shard = join(model.dir, model.weightMap['model.layers.0.self_attn.k_proj.bias'] as string)
    rewrite(shard, (list) => list.filter((t) => t.name !== 'model.layers.0.self_attn.k_proj.bias'))
    const index = join(model.dir, 'model.safetensors.index.json')
    const json = JSON.parse(readFileSync(index, 'utf8'))
    delete json.weight_map['model.layers.0.self_attn.k_proj.bias']
    writeFileSync(index, JSON.stringify(json))
    expect(loadError(model.dir).message).toBe(`${index}: tensor "model.layers.0.self_attn.k_proj.bias": missing (expected shape [8])`)
  })

  it('an untied config without lm_head.weight', () => {
    const model = fixture({ tied: true, config: { tie_word_embeddings: false } })
    expect(loadError(model.dir).message).toMatch(/tensor "lm_head\.weight": missing \(expected shape \[32, 16\]\)/)
  })

  it('a wrong shape names the shard and the tensor', () => {
    const model = fixture({ shards: 2 })
    const name = 'model.layers.1.self_attn.v_proj.weight'
    const shard = join(model.dir, model.weightMap[name] as string)
    rewrite(shard, (list) => list.map((t) => (t.name === name ? { ...t, shape: [16, 8] } : t)))
    const e = loadError(model.dir) as ModelImportError
    expect(e.file).toBe(shard)
    expect(e.message).toBe(`${shard}: tensor "${name}": shape [16, 8] does not match config.json, which implies [8, 16]`)
  })

  it('a layer beyond num_hidden_layers', () => {
    const model = fixture({ config: { num_hidden_layers: 1 } })
    const file = join(model.dir, 'model.safetensors')
    expect(loadError(model.dir).message).toBe(`${file}: tensor "model.layers.1.input_layernorm.weight": layer 1 is beyond num_hidden_layers 1 in config.json`)
  })

  it('a weight the architecture does not have (o_proj bias; q/k norm on Qwen2)', () => {
    const model = fixture()
    const file = join(model.dir, 'model.safetensors')
    rewrite(file, (list) => [...list, { name: 'model.layers.0.self_attn.o_proj.bias', shape: [16], data: new Float32Array(16) }])
    expect(loadError(model.dir).message).toBe(
      `${file}: tensor "model.layers.0.self_attn.o_proj.bias": unexpected tensor: a LlamaForCausalLM with this config.json has no such weight`,
    )
    const qwen2 = fixture({ architecture: 'qwen2' })
    rewrite(join(qwen2.dir, 'model.safetensors'), (list) => [...list, { name: 'model.layers.1.self_attn.q_norm.weight', shape: [4], data: new Float32Array(4) }])
    expect(loadError(qwen2.dir).message).toMatch(/tensor "model\.layers\.1\.self_attn\.q_norm\.weight": unexpected tensor/)
  })

  it('a lying header (shape bigger than its bytes) names the file and tensor', () => {
    const model = fixture()
    const file = join(model.dir, 'model.safetensors')
    const bytes = readFileSync(file)
    const length = Number(bytes.readBigUInt64LE(0))
    const header = JSON.parse(bytes.subarray(8, 8 + length).toString('utf8'))
    header['model.norm.weight'].shape = [17]
    const json = Buffer.from(JSON.stringify(header).padEnd(length, ' '))
    expect(json.length).toBe(length)
    writeFileSync(file, Buffer.concat([bytes.subarray(0, 8), json, bytes.subarray(8 + length)]))
    const e = loadError(model.dir) as SafetensorsError
    expect(e).toBeInstanceOf(SafetensorsError)
    expect(e.file).toBe(file)
    expect(e.tensor).toBe('model.norm.weight')
    expect(e.message).toMatch(/data_offsets \[\d+, \d+\] hold 64 bytes, but F32 \[17\] needs 68/)
  })

  it('a truncated shard names the shard and its last tensor', () => {
    const model = fixture({ shards: 2 })
    const shard = join(model.dir, 'model-00002-of-00002.safetensors')
    truncateSync(shard, readFileSync(shard).length - 4)
    const e = loadError(model.dir) as SafetensorsError
    expect(e.file).toBe(shard)
    expect(e.tensor).toBe('lm_head.weight')
    expect(e.message).toMatch(/the file is truncated/)
  })

  it('an index that names a missing shard', () => {
    const model = fixture({ shards: 2 })
    unlinkSync(join(model.dir, 'model-00001-of-00002.safetensors'))
    expect(loadError(model.dir).message).toMatch(/model\.safetensors\.index\.json: tensor "model\.embed_tokens\.weight": weight_map names model-00001-of-00002\.safetensors, which does not exist/)
  })

  it('an index that places a tensor in the wrong shard', () => {
    const model = fixture({ shards: 2 })
    const index = join(model.dir, 'model.safetensors.index.json')
    const json = JSON.parse(readFileSync(index, 'utf8'))
    json.weight_map['model.norm.weight'] = 'model-00001-of-00002.safetensors'
    writeFileSync(index, JSON.stringify(json))
    expect(loadError(model.dir).message).toBe(
      `${join(model.dir, 'model-00001-of-00002.safetensors')}: tensor "model.norm.weight": model.safetensors.index.json places this tensor here, but the file does not hold it`,
    )
  })

  it('an index whose weight_map leads out of the folder', () => {
    const model = fixture({ shards: 2 })
    const index = join(model.dir, 'model.safetensors.index.json')
    writeFileSync(index, JSON.stringify({ weight_map: { 'model.norm.weight': '../other/model.safetensors' } }))
    expect(loadError(model.dir).message).toMatch(/tensor "model\.norm\.weight": weight_map names "\.\.\/other\/model\.safetensors", which is not a \.safetensors file in this folder/)
    writeFileSync(index, JSON.stringify({ weights: {} }))
    expect(loadError(model.dir).message).toMatch(/model\.safetensors\.index\.json: field "weight_map"/)
  })

  it('a tensor stored in two shards', () => {
    const model = fixture({ shards: 2 })
    const second = join(model.dir, 'model-00002-of-00002.safetensors')
    rewrite(second, (list) => [...list, { name: 'model.embed_tokens.weight', shape: [32, 16], data: new Float32Array(512) }])
    expect(loadError(model.dir).message).toMatch(new RegExp(`^${second}: tensor "model\\.embed_tokens\\.weight": also stored in .*model-00001-of-00002\\.safetensors`))
  })

  it('a shard missing from an index-less set', () => {
    const model = fixture({ shards: 3 })
    unlinkSync(join(model.dir, 'model.safetensors.index.json'))
    unlinkSync(join(model.dir, 'model-00002-of-00003.safetensors'))
    expect(loadError(model.dir).message).toMatch(/model-00002-of-00003\.safetensors: shard missing/)
  })
})

/** Writes a safetensors file with the given raw tensors (any dtype), as another tool might. */
function writeRaw(file: string, tensors: { name: string; dtype: string; shape: number[]; bytes: Uint8Array }[]): void {
  const header: Record<string, unknown> = {}
  let offset = 0
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.length] }
    offset += t.bytes.length
  }
  const json = new TextEncoder().encode(JSON.stringify(header))
  const prefix = new Uint8Array(8)
  new DataView(prefix.buffer).setBigUint64(0, BigInt(json.length), true)
  writeFileSync(file, Buffer.concat([prefix, json, ...tensors.map((t) => t.bytes)]))
}

describe('loadModelFolder: weights that would run a wrong model are refused', () => {
  it('an integer tensor where a float weight belongs names the tensor and its dtype', () => {
    const model = fixture()
    const file = join(model.dir, 'model.safetensors')
    const name = 'model.layers.0.mlp.up_proj.weight'
    const { tensors } = readSafetensors(file)
    writeRaw(
      file,
      [...tensors].map(([n, t]) =>
        n === name
          ? { name: n, dtype: 'I32', shape: t.shape, bytes: new Uint8Array(Int32Array.from(t.data, () => 1).buffer) }
          : { name: n, dtype: 'F32', shape: t.shape, bytes: new Uint8Array(t.data.buffer.slice(0)) },
      ),
    )
    const e = loadError(model.dir) as ModelImportError
    expect(e).toBeInstanceOf(ModelImportError)
    expect(e.message).toBe(`${file}: tensor "${name}": dtype I32 is not a floating-point type (weights are F32, F16, BF16 or F64)`)
  })

  it.each(['F32', 'F16', 'BF16'] as const)('a NaN or infinity in a %s weight names the tensor and the position', (dtype) => {
    const model = fixture({ dtype })
    const file = join(model.dir, 'model.safetensors')
    const name = 'model.layers.1.self_attn.k_proj.weight'
    rewrite(file, (list) => list.map((t) => (t.name === name ? { ...t, data: t.data.map((x, i) => (i === 5 ? Number.NaN : x)), dtype } : { ...t, dtype })))
    expect(loadError(model.dir).message).toBe(`${file}: tensor "${name}": value 5 is NaN: the checkpoint is corrupt (or was saved after training diverged)`)
    rewrite(file, (list) => list.map((t) => (t.name === name ? { ...t, data: t.data.map((x, i) => (i === 7 ? -Infinity : Number.isNaN(x) ? 0 : x)), dtype } : { ...t, dtype })))
    expect(loadError(model.dir).message).toBe(`${file}: tensor "${name}": value 7 is -Infinity: the checkpoint is corrupt (or was saved after training diverged)`)
  })

  it('a model.safetensors that is a folder is a one-line error naming it', () => {
    const model = fixture()
    const file = join(model.dir, 'model.safetensors')
    unlinkSync(file)
    mkdirSync(file)
    expect(loadError(model.dir).message).toBe(`${file}: is a folder, not a safetensors file`)
  })

  it('a config with more layers than the weights names num_hidden_layers', () => {
    const model = fixture({ config: { num_hidden_layers: 3 } })
    expect(loadError(model.dir).message).toBe(
      `${join(model.dir, 'config.json')}: field "num_hidden_layers": 3, but the weights (${join(model.dir, 'model.safetensors')}) hold 2 layers`,
    )
  })
})

describe('inspectModelFolder checks the config against the weight headers, reading no weights', () => {
  it('a layer count the weights do not have', () => {
    const model = fixture({ config: { num_hidden_layers: 3 } })
    expect(() => inspectModelFolder(model.dir)).toThrow(`${join(model.dir, 'config.json')}: field "num_hidden_layers": 3, but the weights`)
  })

  it('a shape the config does not imply', () => {
    const model = fixture({ config: { intermediate_size: 40 } })
    expect(() => inspectModelFolder(model.dir)).toThrow(/tensor "model\.layers\.0\.mlp\.gate_proj\.weight": shape \[24, 16\] does not match config\.json, which implies \[40, 16\]/)
  })

  it('a healthy folder', () => {
    expect(inspectModelFolder(fixture().dir).config.numLayers).toBe(2)
  })
})

describe('openModelFolder reads a model part by part', () => {
  it('reads nothing but headers when opened, then exactly the part asked for, equal to the whole load', () => {
    const model = fixture({ layers: 3 })
    const whole = loadModelFolder(model.dir)
    const reader = openModelFolder(model.dir)
    try {
      expect(reader.config.numLayers).toBe(3)
      expect(reader.weights.embed.length).toBe(0)
      expect(reader.weights.layers.every((layer) => layer.q.length === 0)).toBe(true)
      reader.readLayer(1)
      expect(reader.weights.layers.map((layer) => layer.q.length > 0)).toEqual([false, true, false])
      expect(reader.weights.layers[1]).toEqual(whole.weights.layers[1])
      expect(reader.weights.embed.length).toBe(0)
      reader.readOuter()
      expect(reader.weights.embed).toEqual(whole.weights.embed)
      expect(reader.weights.norm).toEqual(whole.weights.norm)
      expect(reader.weights.lmHead).toEqual(whole.weights.lmHead)
      expect(reader.weights.layers[0]!.q.length).toBe(0)
    } finally {
      reader.close()
    }
  })

  it('a corrupt tensor in a part is found when that part is read, naming it', () => {
    const model = fixture()
    const file = join(model.dir, 'model.safetensors')
    const name = 'model.layers.1.mlp.down_proj.weight'
    rewrite(file, (list) => list.map((t) => (t.name === name ? { ...t, data: t.data.map((x, i) => (i === 2 ? Number.NaN : x)) } : t)))
    const reader = openModelFolder(model.dir)
    try {
      reader.readOuter()
      reader.readLayer(0)
      expect(() => reader.readLayer(1)).toThrow(`${file}: tensor "${name}": value 2 is NaN`)
    } finally {
      reader.close()
    }
  })
})
