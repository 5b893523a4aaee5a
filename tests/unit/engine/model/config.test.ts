import { describe, expect, it } from 'vitest'
import { ConfigError, configToJson, parseConfig } from '../../../../src-main/engine/model/config'

const FILE = '/models/x/config.json'

// Trimmed copies of real config.json files.
const tinyLlama = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  hidden_act: 'silu',
  hidden_size: 2048,
  intermediate_size: 5632,
  num_attention_heads: 32,
  num_hidden_layers: 22,
  num_key_value_heads: 4,
  max_position_embeddings: 2048,
  rms_norm_eps: 1e-5,
  rope_scaling: null,
  rope_theta: 10000.0,
  tie_word_embeddings: false,
  torch_dtype: 'bfloat16',
  vocab_size: 32000,
  bos_token_id: 1,
  eos_token_id: 2,
}

const llama32 = {
  architectures: ['LlamaForCausalLM'],
  attention_bias: false,
  bos_token_id: 128000,
  eos_token_id: [128001, 128008, 128009],
  head_dim: 64,
  hidden_act: 'silu',
  hidden_size: 2048,
  intermediate_size: 8192,
  max_position_embeddings: 131072,
  mlp_bias: false,
  model_type: 'llama',
  num_attention_heads: 32,
  num_hidden_layers: 16,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-5,
  rope_scaling: { factor: 32.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 8192, rope_type: 'llama3' },
  rope_theta: 500000.0,
  tie_word_embeddings: true,
  torch_dtype: 'bfloat16',
  vocab_size: 128256,
}

const smolLM = {
  architectures: ['LlamaForCausalLM'],
  bos_token_id: 0,
  eos_token_id: 0,
  hidden_size: 576,
  intermediate_size: 1536,
  max_position_embeddings: 2048,
  model_type: 'llama',
  num_attention_heads: 9,
  num_hidden_layers: 30,
  num_key_value_heads: 3,
  rms_norm_eps: 1e-5,
  rope_theta: 10000.0,
  tie_word_embeddings: true,
  vocab_size: 49152,
}

const mistral = {
  architectures: ['MistralForCausalLM'],
  hidden_size: 4096,
  intermediate_size: 14336,
  max_position_embeddings: 32768,
  model_type: 'mistral',
  num_attention_heads: 32,
  num_hidden_layers: 32,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-5,
  rope_theta: 1000000.0,
  sliding_window: null,
  tie_word_embeddings: false,
  vocab_size: 32768,
  bos_token_id: 1,
  eos_token_id: 2,
}

const qwen25 = {
  architectures: ['Qwen2ForCausalLM'],
  bos_token_id: 151643,
  eos_token_id: 151645,
  hidden_act: 'silu',
  hidden_size: 896,
  intermediate_size: 4864,
  max_position_embeddings: 32768,
  max_window_layers: 21,
  model_type: 'qwen2',
  num_attention_heads: 14,
  num_hidden_layers: 24,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000.0,
  sliding_window: 32768,
  tie_word_embeddings: true,
  use_sliding_window: false,
  vocab_size: 151936,
}

const qwen3 = {
  architectures: ['Qwen3ForCausalLM'],
  attention_bias: false,
  bos_token_id: 151643,
  eos_token_id: 151645,
  head_dim: 128,
  hidden_act: 'silu',
  hidden_size: 1024,
  intermediate_size: 3072,
  max_position_embeddings: 40960,
  model_type: 'qwen3',
  num_attention_heads: 16,
  num_hidden_layers: 28,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-6,
  rope_scaling: null,
  rope_theta: 1000000,
  sliding_window: null,
  tie_word_embeddings: true,
  use_sliding_window: false,
  vocab_size: 151936,
}

/** The ConfigError parseConfig throws. */
function configError(json: unknown): ConfigError {
  try {
    parseConfig(json, FILE)
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    expect((error as ConfigError).file).toBe(FILE)
    expect((error as Error).message.startsWith(`${FILE}: field "`)).toBe(true)
    return error as ConfigError
  }
  throw new Error('expected a ConfigError')
}

describe('parseConfig: supported architectures', () => {
  it('TinyLlama (Llama 2 shape, GQA, untied)', () => {
    const c = parseConfig(tinyLlama, FILE)
    expect(c).toMatchObject({
      architecture: 'llama',
      hfArchitecture: 'LlamaForCausalLM',
      vocabSize: 32000,
      hiddenSize: 2048,
      intermediateSize: 5632,
      numLayers: 22,
      numHeads: 32,
      numKvHeads: 4,
      headDim: 64,
      rmsNormEps: 1e-5,
      ropeTheta: 10000,
      ropeScaling: undefined,
      maxPositionEmbeddings: 2048,
      tieWordEmbeddings: false,
      attentionBias: false,
      qkNorm: false,
      bosTokenId: 1,
      eosTokenIds: [2],
    })
    expect(c.raw).toEqual(tinyLlama)
    expect(c.raw).not.toBe(tinyLlama)
  })

  it('Llama 3.2 (llama3 rope scaling, eos list, tied)', () => {
    const c = parseConfig(llama32, FILE)
    expect(c.ropeScaling).toEqual({ type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 })
    expect(c.eosTokenIds).toEqual([128001, 128008, 128009])
    expect(c.tieWordEmbeddings).toBe(true)
    expect(c.ropeTheta).toBe(500000)
  })

  it('SmolLM (9 heads over 3 kv heads, defaults filled in)', () => {
    const c = parseConfig(smolLM, FILE)
    expect(c).toMatchObject({ numHeads: 9, numKvHeads: 3, headDim: 64, tieWordEmbeddings: true, bosTokenId: 0, eosTokenIds: [0] })
  })

  it('Mistral with sliding_window null', () => {
    expect(parseConfig(mistral, FILE)).toMatchObject({ architecture: 'mistral', headDim: 128, maxPositionEmbeddings: 32768, attentionBias: false })
  })

  it('Mistral with a window as long as the context is accepted', () => {
    expect(parseConfig({ ...mistral, sliding_window: 32768 }, FILE).architecture).toBe('mistral')
  })

  it('Qwen2.5 has q/k/v biases and ignores a disabled sliding window', () => {
    expect(parseConfig(qwen25, FILE)).toMatchObject({ architecture: 'qwen2', attentionBias: true, qkNorm: false, headDim: 64, numKvHeads: 2 })
    expect(parseConfig({ ...qwen25, sliding_window: 4096 }, FILE).architecture).toBe('qwen2')
  })

  it('Qwen3 has q/k norm and an explicit head_dim that is not hidden/heads', () => {
    const c = parseConfig(qwen3, FILE)
    expect(c).toMatchObject({ architecture: 'qwen3', qkNorm: true, attentionBias: false, headDim: 128, numHeads: 16, hiddenSize: 1024 })
  })

  it('Qwen3 without head_dim takes Qwen3Config’s default of 128', () => {
    const { head_dim: _, ...rest } = qwen3
    expect(parseConfig({ ...rest, hidden_size: 512 }, FILE).headDim).toBe(128)
  })

  it('architecture from model_type when architectures is absent', () => {
    const { architectures: _, ...rest } = tinyLlama
    expect(parseConfig(rest, FILE).hfArchitecture).toBe('LlamaForCausalLM')
  })
})

describe('parseConfig: defaults per Hugging Face class', () => {
  const minimal = { architectures: ['LlamaForCausalLM'], vocab_size: 10, hidden_size: 8, intermediate_size: 16, num_hidden_layers: 2, num_attention_heads: 2 }

  it('num_key_value_heads defaults to num_attention_heads, head_dim to hidden/heads', () => {
    expect(parseConfig(minimal, FILE)).toMatchObject({ numKvHeads: 2, headDim: 4 })
    expect(parseConfig({ ...minimal, num_key_value_heads: null, head_dim: null }, FILE)).toMatchObject({ numKvHeads: 2, headDim: 4 })
  })

  it('Llama: untied, eps 1e-6, theta 10000, 2048 positions, no bos/eos', () => {
    expect(parseConfig(minimal, FILE)).toMatchObject({
      tieWordEmbeddings: false,
      rmsNormEps: 1e-6,
      ropeTheta: 10000,
      maxPositionEmbeddings: 2048,
      bosTokenId: undefined,
      eosTokenIds: [],
    })
  })

  it('Qwen2: 32768 positions', () => {
    expect(parseConfig({ ...minimal, architectures: ['Qwen2ForCausalLM'] }, FILE).maxPositionEmbeddings).toBe(32768)
  })

  it('Mistral: a missing sliding_window means MistralConfig’s 4096, fine for ≤ 4096 positions', () => {
    expect(parseConfig({ ...minimal, architectures: ['MistralForCausalLM'], max_position_embeddings: 4096 }, FILE).architecture).toBe('mistral')
    expect(configError({ ...minimal, architectures: ['MistralForCausalLM'] }).field).toBe('sliding_window')
  })
})

describe('parseConfig: rope scaling', () => {
  it.each([
    [{ type: 'linear', factor: 2 }, { type: 'linear', factor: 2 }],
    [{ rope_type: 'linear', factor: 4 }, { type: 'linear', factor: 4 }],
    [{ type: 'dynamic', factor: 2 }, { type: 'dynamic', factor: 2 }],
    [{ rope_type: 'dynamic', type: 'linear', factor: 3 }, { type: 'dynamic', factor: 3 }],
    [{ rope_type: 'default' }, undefined],
    [null, undefined],
  ])('%j', (scaling, expected) => {
    expect(parseConfig({ ...tinyLlama, rope_scaling: scaling }, FILE).ropeScaling).toEqual(expected)
  })

  it('llama3 with the legacy `type` key', () => {
    const { rope_type: _, ...rest } = llama32.rope_scaling
    expect(parseConfig({ ...llama32, rope_scaling: { ...rest, type: 'llama3' } }, FILE).ropeScaling?.type).toBe('llama3')
  })

  it('transformers ≥ 4.56 rope_parameters', () => {
    const { rope_scaling: _, rope_theta: __, ...rest } = llama32
    const c = parseConfig({ ...rest, rope_parameters: { ...llama32.rope_scaling, rope_theta: 500000 } }, FILE)
    expect(c.ropeTheta).toBe(500000)
    expect(c.ropeScaling?.type).toBe('llama3')
    expect(parseConfig({ ...rest, rope_parameters: { rope_type: 'default', rope_theta: 1234 } }, FILE)).toMatchObject({ ropeTheta: 1234, ropeScaling: undefined })
  })

  it('an unsupported type names the field', () => {
    const e = configError({ ...tinyLlama, rope_scaling: { rope_type: 'yarn', factor: 4 } })
    expect(e.field).toBe('rope_scaling.rope_type')
    expect(e.message).toMatch(/"yarn" is not supported/)
    expect(configError({ ...tinyLlama, rope_scaling: { type: 'su', factor: 4 } }).field).toBe('rope_scaling.type')
  })

  it('a llama3 scaling missing a parameter names it', () => {
    const { low_freq_factor: _, ...rest } = llama32.rope_scaling
    const e = configError({ ...llama32, rope_scaling: rest })
    expect(e.field).toBe('rope_scaling.low_freq_factor')
    expect(e.message).toMatch(/missing \(required by rope type "llama3"\)/)
  })

  it('a linear scaling without a factor, or with a non-numeric one', () => {
    expect(configError({ ...tinyLlama, rope_scaling: { type: 'linear' } }).field).toBe('rope_scaling.factor')
    expect(configError({ ...tinyLlama, rope_scaling: { type: 'linear', factor: '2' } }).field).toBe('rope_scaling.factor')
  })

  it('a scaling without a type', () => {
    expect(configError({ ...tinyLlama, rope_scaling: { factor: 2 } }).field).toBe('rope_scaling.rope_type')
  })
})

describe('parseConfig: refusals name the file and field', () => {
  it('an unsupported architecture', () => {
    const e = configError({ ...tinyLlama, architectures: ['GPT2LMHeadModel'] })
    expect(e.field).toBe('architectures')
    expect(e.message).toMatch(/GPT2LMHeadModel is not supported \(supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM\)/)
  })

  it('no architecture at all', () => {
    const { architectures: _, model_type: __, ...rest } = tinyLlama
    expect(configError(rest).field).toBe('architectures')
  })

  it.each(['vocab_size', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads'])('missing %s', (field) => {
    const json: Record<string, unknown> = { ...tinyLlama }
    delete json[field]
    const e = configError(json)
    expect(e.field).toBe(field)
    expect(e.message).toBe(`${FILE}: field "${field}": missing`)
  })

  it.each([
    ['hidden_size', '2048'],
    ['hidden_size', 20.5],
    ['num_hidden_layers', 0],
    ['vocab_size', -1],
    ['rms_norm_eps', 'small'],
    ['tie_word_embeddings', 'yes'],
    ['eos_token_id', 'x'],
  ])('invalid %s: %j', (field, value) => {
    expect(configError({ ...tinyLlama, [field]: value }).field).toBe(field)
  })

  // Sizes no real checkpoint has: refused from the config alone, before anything is sized from them.
  it.each([
    ['num_hidden_layers', 1_000_000_000],
    ['hidden_size', 2 ** 40],
    ['intermediate_size', 10_000_000],
    ['vocab_size', 1e12],
    ['num_attention_heads', 100_000],
    ['num_key_value_heads', 100_000],
    ['head_dim', 1_000_000],
    ['max_position_embeddings', 1e15],
  ])('an absurd %s (%d) names the field and the bound', (field, value) => {
    const e = configError({ ...tinyLlama, [field]: value })
    expect(e.field).toBe(field)
    expect(e.message).toMatch(new RegExp(`^${FILE}: field "${field}": ${value}: .*at most \\d+`))
  })

  it('the largest real shapes stay within the bounds', () => {
    // Llama 3.1 405B: 126 layers, 16384 wide, 53248 MLP, 128256 tokens, 131072 positions.
    const big = { ...llama32, num_hidden_layers: 126, hidden_size: 16384, intermediate_size: 53248, num_attention_heads: 128, num_key_value_heads: 8, head_dim: 128, vocab_size: 128256 }
    expect(parseConfig(big, FILE).numLayers).toBe(126)
  })

  it('an invalid entry of an eos list names its index', () => {
    expect(configError({ ...tinyLlama, eos_token_id: [2, -1] }).field).toBe('eos_token_id.1')
  })

  it('a config that is not an object', () => {
    expect(configError([tinyLlama]).field).toBe('(root)')
  })

  it('kv heads that do not divide the heads', () => {
    const e = configError({ ...tinyLlama, num_key_value_heads: 5 })
    expect(e.field).toBe('num_key_value_heads')
    expect(e.message).toMatch(/5 does not divide num_attention_heads 32/)
  })

  it('hidden size not a multiple of the heads without head_dim', () => {
    expect(configError({ ...tinyLlama, hidden_size: 2050 }).field).toBe('hidden_size')
  })

  it('an odd head dimension', () => {
    expect(configError({ ...qwen3, head_dim: 63 }).field).toBe('head_dim')
  })

  it('a Mistral sliding window shorter than the context', () => {
    const e = configError({ ...mistral, sliding_window: 4096 })
    expect(e.field).toBe('sliding_window')
    expect(e.message).toMatch(/4096 is shorter than max_position_embeddings 32768 \(sliding-window attention\); MistralForCausalLM models with it are not supported/)
  })

  it('a Qwen sliding window that is switched on', () => {
    expect(configError({ ...qwen25, use_sliding_window: true, sliding_window: 4096 }).field).toBe('sliding_window')
  })

  it('biases the engine has no weights for', () => {
    expect(configError({ ...llama32, attention_bias: true }).field).toBe('attention_bias')
    expect(configError({ ...qwen3, attention_bias: true }).field).toBe('attention_bias')
    expect(configError({ ...llama32, mlp_bias: true }).field).toBe('mlp_bias')
  })

  it('another activation', () => {
    expect(configError({ ...tinyLlama, hidden_act: 'gelu' }).field).toBe('hidden_act')
  })
})

describe('configToJson', () => {
  it('round-trips through parseConfig and sets torch_dtype', () => {
    for (const json of [tinyLlama, llama32, smolLM, mistral, qwen25, qwen3]) {
      const c = parseConfig(json, FILE)
      const written = configToJson(c, 'F16')
      expect(written.torch_dtype).toBe('float16')
      const { raw: _, ...again } = parseConfig(written, FILE)
      const { raw: __, ...original } = c
      expect(again).toEqual(original)
    }
  })

  it('writes a config changed in memory (a sub-model with fewer layers)', () => {
    const c = { ...parseConfig(qwen25, FILE), numLayers: 6 }
    const written = configToJson(c, 'BF16')
    expect(written).toMatchObject({ num_hidden_layers: 6, torch_dtype: 'bfloat16', max_window_layers: 21, use_sliding_window: false })
  })
})
