/**
 * `sorted quantize` writes a GPTQ folder that `sorted generate` loads as
 * int4; the flags and folders it cannot use are one-line errors naming them.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { writeRandomModel } from '../fixtures/fixtures'
import { finish } from './harness'

const root = mkdtempSync(join(tmpdir(), 'sorted-quantize-'))
const source = join(root, 'source')
const narrow = join(root, 'narrow')
const gptq = join(root, 'gptq')

beforeAll(() => {
  writeRandomModel(source, { architecture: 'llama', layers: 2, hidden: 64, heads: 4, kvHeads: 2, intermediate: 128, vocab: 40, dtype: 'F16', seed: 3, config: { eos_token_id: 2000 }, files: { 'tokenizer_config.json': {} } })
  writeRandomModel(narrow, { architecture: 'llama', layers: 1, hidden: 16, heads: 4, kvHeads: 2, intermediate: 24, vocab: 40, dtype: 'F32', seed: 4 })
})
afterAll(() => rmSync(root, { recursive: true, force: true }))

describe('sorted quantize', () => {
  it('writes a GPTQ folder that generate loads as int4 and refuses other --weights on', async () => {
    const written = await finish(['quantize', '--model', source, '--weights', 'int4', '--block-size', '64', '--out', gptq])
    expect(written.stderr).toBe('')
    expect(written.code).toBe(0)
    expect(written.stdout).toBe(`Wrote ${gptq} (GPTQ 4-bit, group size 64): config.json, model.safetensors, tokenizer_config.json\n`)
    const config = JSON.parse(readFileSync(join(gptq, 'config.json'), 'utf8')) as { quantization_config: Record<string, unknown> }
    expect(config.quantization_config).toMatchObject({ quant_method: 'gptq', bits: 4, group_size: 64, desc_act: false, sym: true })

    const args = ['generate', '--model', gptq, '--prompt-ids', '1,2,3', '--max-new-tokens', '4', '--json']
    const generated = await finish(args)
    expect(generated.stderr).toBe('')
    expect(JSON.parse(generated.stdout)).toMatchObject({ weights: 'int4', block_size: 32, lm_head: 'int8' })
    // The same weights as quantizing the original in the same precision (the source is F16, so its scales are exact in GPTQ's fp16).
    const original = await finish(['generate', '--model', source, '--prompt-ids', '1,2,3', '--max-new-tokens', '4', '--json', '--weights', 'int4', '--block-size', '64'])
    const again = await finish([...args, '--weights', 'int4', '--block-size', '64'])
    expect(JSON.parse(again.stdout).tokens).toEqual(JSON.parse(original.stdout).tokens)

    const int8 = await finish([...args, '--weights', 'int8'])
    expect(int8.code).toBe(2)
    expect(int8.stderr).toContain(`sorted generate: --weights int8: ${gptq}: the model holds GPTQ 4-bit weights, so it loads as int4 only, not int8 (omit --weights, or pass --weights int4).`)
  })

  it('names the flag, the folder or the tensor it cannot use', async () => {
    const int8 = await finish(['quantize', '--model', source, '--weights', 'int8', '--out', join(root, 'x')])
    expect(int8.code).toBe(2)
    expect(int8.stderr).toContain('--weights must be int4: GPTQ folders hold 4-bit weights (got "int8").')
    const block = await finish(['quantize', '--model', source, '--weights', 'int4', '--block-size', '16', '--out', join(root, 'x')])
    expect(block.code).toBe(2)
    expect(block.stderr).toContain('--block-size must be 32, 64 or 128 (got "16").')

    const out = join(root, 'narrow-gptq')
    const shape = await finish(['quantize', '--model', narrow, '--weights', 'int4', '--out', out])
    expect(shape.code).toBe(1)
    expect(shape.stderr).toBe(
      `sorted quantize: ${join(out, 'model.safetensors')}: tensor "model.layers.0.self_attn.q_proj.weight": model.layers.0.self_attn.q_proj: K = 16 is not a multiple of the block size 32; GPTQ needs whole groups\n`,
    )
    expect(existsSync(out)).toBe(false)

    const onto = await finish(['quantize', '--model', source, '--weights', 'int4', '--out', source])
    expect(onto.code).toBe(1)
    expect(onto.stderr).toBe(`sorted quantize: ${source}: exists and is not empty (pass overwrite to replace it)\n`)
  })

  it('an act-order GPTQ folder is one line naming quantization_config.desc_act', async () => {
    const file = join(gptq, 'config.json')
    const json = JSON.parse(readFileSync(file, 'utf8')) as { quantization_config: Record<string, unknown> }
    json.quantization_config.desc_act = true
    writeFileSync(file, JSON.stringify(json))
    const result = await finish(['generate', '--model', gptq, '--prompt-ids', '1'])
    expect(result.code).toBe(1)
    expect(result.stderr).toBe(
      `sorted generate: ${file}: quantization_config.desc_act: act-order (desc_act: true) checkpoints are not supported: their groups are not contiguous blocks of K\n`,
    )
  })
})
