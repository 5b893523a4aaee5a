import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { TokenizerFileError } from '../../../../src-main/engine/tokenizer/files'
import { loadTokenizer } from '../../../../src-main/engine/tokenizer/tokenizer'
import { byteLevelTokenizerJson, modelDir } from './fixtures'

describe('loading a tokenizer from a model folder', () => {
  it('gives undefined for a folder without tokenizer.json: the model runs on raw ids', () => {
    expect(loadTokenizer(modelDir({ 'config.json': {} }))).toBeUndefined()
  })

  it('refuses a tokenizer.json that is not JSON, naming the file', () => {
    const dir = modelDir({ 'tokenizer.json': '{"model": {"type": "BPE",' })
    expect(() => loadTokenizer(dir)).toThrow(TokenizerFileError)
    expect(() => loadTokenizer(dir)).toThrow(`${join(dir, 'tokenizer.json')}: is not valid JSON`)
  })

  it('refuses JSON that is not a tokenizer, naming the file', () => {
    const dir = modelDir({ 'tokenizer.json': { vocab: {} } })
    expect(() => loadTokenizer(dir)).toThrow(`${join(dir, 'tokenizer.json')}: not a Hugging Face tokenizer.json`)
  })

  it('refuses a tokenizer_config.json that is not JSON, naming that file', () => {
    const dir = modelDir({ 'tokenizer.json': byteLevelTokenizerJson(), 'tokenizer_config.json': "{'bos_token': '<s>'}" })
    expect(() => loadTokenizer(dir)).toThrow(`${join(dir, 'tokenizer_config.json')}: is not valid JSON`)
  })

  it('adds the special tokens the post-processor asks for, unless told not to', () => {
    const tokenizer = loadTokenizer(modelDir({ 'tokenizer.json': byteLevelTokenizerJson() }))!
    const hi = tokenizer.tokenToId('hi')!
    const spaceHi = tokenizer.tokenToId('Ġhi')!
    expect(tokenizer.encode('hi hi')).toEqual([0, hi, spaceHi])
    expect(tokenizer.encode('hi hi', { addSpecialTokens: false })).toEqual([hi, spaceHi])
    expect(tokenizer.decode([0, hi, spaceHi, 1], { skipSpecialTokens: true })).toBe('hi hi')
    expect(tokenizer.decode([])).toBe('')
  })

  it('without tokenizer_config.json knows its special tokens but no BOS or EOS', () => {
    const tokenizer = loadTokenizer(modelDir({ 'tokenizer.json': byteLevelTokenizerJson() }))!
    expect(tokenizer.specialTokens).toEqual(new Map([['<s>', 0], ['</s>', 1], ['<|im_end|>', 2]]))
    expect(tokenizer.bosTokenId).toBeUndefined()
    expect(tokenizer.eosTokenIds).toEqual([])
    expect(tokenizer.vocabSize).toBe(9) // 3 special + Ġ h i Ġh Ġhi hi
  })

  it('takes BOS and EOS from tokenizer_config.json, in either way it writes them', () => {
    const tokenizer = loadTokenizer(
      modelDir({
        'tokenizer.json': byteLevelTokenizerJson(),
        'tokenizer_config.json': { bos_token: { __type: 'AddedToken', content: '<s>' }, eos_token: '</s>' },
      }),
    )!
    expect(tokenizer.bosTokenId).toBe(0)
    expect(tokenizer.eosTokenIds).toEqual([1])
  })

  it('adds the end-of-turn ids of generation_config.json to the EOS ids', () => {
    const tokenizer = loadTokenizer(
      modelDir({
        'tokenizer.json': byteLevelTokenizerJson(),
        'tokenizer_config.json': { eos_token: '</s>' },
        'generation_config.json': { bos_token_id: 0, eos_token_id: [1, 2] },
      }),
    )!
    expect(tokenizer.bosTokenId).toBe(0)
    expect(tokenizer.eosTokenIds).toEqual([1, 2])
  })
})
