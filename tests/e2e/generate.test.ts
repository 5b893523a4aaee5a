import { mkdirSync, mkdtempSync, readdirSync, rmSync, unlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ModelSession } from '../../src-main/engine/generate/model-session'
import { parseBudgetSchedule } from '../../src-main/engine/generate/schedule'
import { writeRandomModel } from '../fixtures/fixtures'
import { byteLevelTokenizerJson } from '../unit/engine/tokenizer/fixtures'
import { finish } from './harness'

const root = mkdtempSync(join(tmpdir(), 'sorted-generate-'))
const withTokenizer = join(root, 'with-tokenizer')
const idsOnly = join(root, 'ids-only')
const vocab300 = join(root, 'vocab-300')
const billionLayers = join(root, 'billion-layers')
const folderWeights = join(root, 'folder-weights')

beforeAll(() => {
  const tokenizer = byteLevelTokenizerJson()
  const vocab = Math.max(...Object.values(tokenizer.model.vocab as Record<string, number>)) + 1
  const shape = { architecture: 'llama' as const, layers: 3, hidden: 16, heads: 4, kvHeads: 2, intermediate: 24, dtype: 'F32' as const }
  // End-of-sequence ids beyond the vocabulary: generation always runs to --max-new-tokens.
  writeRandomModel(withTokenizer, { ...shape, vocab, seed: 4, config: { eos_token_id: vocab + 10 }, files: { 'tokenizer.json': tokenizer } })
  writeRandomModel(idsOnly, { ...shape, vocab: 40, seed: 5, config: { eos_token_id: 2000 } })
  writeRandomModel(vocab300, { ...shape, vocab: 300, seed: 6, config: { eos_token_id: 2000 } })
  writeRandomModel(billionLayers, { ...shape, vocab: 40, seed: 7, config: { num_hidden_layers: 1_000_000_000 } })
  writeRandomModel(folderWeights, { ...shape, vocab: 40, seed: 8 })
  unlinkSync(join(folderWeights, 'model.safetensors'))
  mkdirSync(join(folderWeights, 'model.safetensors'))
})
afterAll(() => rmSync(root, { recursive: true, force: true }))


describe('sorted generate', () => {
  it('--speculative prints the full model\'s tokens with the draft statistics; --auto-exit names its mode and mean exit', async () => {
    const bundled = join(import.meta.dirname, '..', '..', 'resources', 'models', 'dictionary-soft')
    const args = (...extra: string[]) => ['generate', '--model', bundled, '--prompt', 'Define the noun "harbour".', '--chat', '--max-new-tokens', '24', '--json', ...extra]
    const full = JSON.parse((await finish(args('--exit', '8'))).stdout)
    const result = await finish(args('--speculative', '--draft-exit', '3', '--draft-tokens', '4'))
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
    const exact = JSON.parse(result.stdout)
    expect(exact.tokens).toEqual(full.tokens)
    expect(exact.exits).toEqual(full.tokens.map(() => 8))
    expect(exact).toMatchObject({ mode: 'exact', draft_exit: 3 })
    expect(exact.accepted).toBeGreaterThan(0)
    expect(exact.acceptance_rate).toBeCloseTo(exact.accepted / exact.drafted, 3)
    expect(full.mode).toBe('exit')
    const auto = JSON.parse((await finish(args('--auto-exit', '0'))).stdout)
    expect(auto).toMatchObject({ mode: 'auto', auto_tau: 0, mean_exit: 1 })
    const refused = await finish(args('--speculative', '--exit', '3'))
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain('--speculative decodes at full depth: give it without --exit and --budget-schedule.')
    const tau = await finish(args('--auto-exit', '1.5'))
    expect(tau.code).toBe(2)
    expect(tau.stderr).toContain('--auto-exit must be a probability threshold in 0..1 (got "1.5").')
  })

  it('follows a budget schedule and prints one JSON object', async () => {
    const result = await finish(['generate', '--model', idsOnly, '--prompt-ids', '1,2,3', '--budget-schedule', '0:1,3:3', '--max-new-tokens', '6', '--json'])
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
    const out = JSON.parse(result.stdout)
    expect(Object.keys(out)).toEqual(expect.arrayContaining(['tokens', 'text', 'exits', 'prefill_ms', 'decode_tokens_per_s']))
    expect(out.exits).toEqual([1, 1, 1, 3, 3, 3])
    // The same schedule through the engine in this process gives the same tokens.
    const session = await ModelSession.open(idsOnly)
    const direct = await session.generate({ input: { promptIds: [1, 2, 3] }, maxNewTokens: 6, exitAt: parseBudgetSchedule('0:1,3:3', 3) })
    await session.release()
    expect(out.tokens).toEqual(direct.tokens)
  })

  it('runs in the weight precision asked for, names it in the JSON, and matches the engine in that precision', async () => {
    const cacheDir = join(root, 'graph-cache')
    const args = (...extra: string[]) => ['generate', '--model', idsOnly, '--prompt-ids', '1,2,3', '--budget-schedule', '0:3,2:1,4:3', '--max-new-tokens', '6', '--json', ...extra]
    const int4 = await finish(args('--weights', 'int4', '--block-size', '64', '--cache-dir', cacheDir))
    expect(int4.stderr).toBe('')
    expect(int4.code).toBe(0)
    const out = JSON.parse(int4.stdout)
    expect(out).toMatchObject({ weights: 'int4', block_size: 64, lm_head: 'int8', exits: [3, 3, 1, 1, 3, 3] })
    // The same schedule through the engine in this process, in the same precision, gives the same tokens.
    const session = await ModelSession.open(idsOnly, { weights: { precision: 'int4', blockSize: 64 } })
    const direct = await session.generate({ input: { promptIds: [1, 2, 3] }, maxNewTokens: 6, exitAt: parseBudgetSchedule('0:3,2:1,4:3', 3) })
    await session.release()
    expect(out.tokens).toEqual(direct.tokens)
    // A second run reads the quantized graphs from the cache and answers the same.
    const cached = await finish(args('--weights', 'int4', '--block-size', '64', '--cache-dir', cacheDir))
    expect(JSON.parse(cached.stdout).tokens).toEqual(out.tokens)
    expect(readdirSync(cacheDir)).toHaveLength(1) // one entry: the model in int4, block 64
    const int8 = JSON.parse((await finish(args('--weights', 'int8'))).stdout)
    expect(int8).toMatchObject({ weights: 'int8', block_size: 32, lm_head: 'int8' })
    expect(JSON.parse((await finish(args())).stdout)).toMatchObject({ weights: 'fp32' })
  })

  it('refuses a weight precision or block size it does not offer, naming the flag', async () => {
    const run = (...extra: string[]) => finish(['generate', '--model', idsOnly, '--prompt-ids', '1', ...extra])
    const precision = await run('--weights', 'int3')
    expect(precision.code).toBe(2)
    expect(precision.stderr).toContain('--weights must be one of fp32, int8, int4 (got "int3").')
    const block = await run('--weights', 'int4', '--block-size', '48')
    expect(block.code).toBe(2)
    expect(block.stderr).toContain('--block-size must be 32, 64 or 128 (got "48").')
    const fp32Block = await run('--block-size', '64')
    expect(fp32Block.code).toBe(2)
    expect(fp32Block.stderr).toContain('--block-size applies to int8 and int4 weights only: give --weights int8 or int4 with it.')
  })

  it('tokenizes a text prompt and detokenizes the answer', async () => {
    const result = await finish(['generate', '--model', withTokenizer, '--prompt', 'hi hi', '--exit', '2', '--max-new-tokens', '5', '--json'])
    expect(result.code).toBe(0)
    const out = JSON.parse(result.stdout)
    expect(out.exits).toEqual([2, 2, 2, 2, 2])
    expect(out.prompt_tokens).toBe(3) // <s> hi Ġhi
    expect(typeof out.text).toBe('string')
  })

  it('samples reproducibly with a seed', async () => {
    const args = ['generate', '--model', idsOnly, '--prompt-ids', '5,6', '--temperature', '1.2', '--top-p', '0.9', '--seed', '3', '--max-new-tokens', '8', '--json']
    const [a, b] = await Promise.all([finish(args), finish(args)])
    expect(JSON.parse(a.stdout).tokens).toEqual(JSON.parse(b.stdout).tokens)
  })

  it('explains what is wrong with the command line or the model', async () => {
    const outside = await finish(['generate', '--model', idsOnly, '--prompt-ids', '1', '--exit', '9'])
    expect(outside.code).toBe(2)
    expect(outside.stderr).toContain('sorted generate: --exit: exit 9 is outside 1..3')
    const textWithoutTokenizer = await finish(['generate', '--model', idsOnly, '--prompt', 'hello'])
    expect(textWithoutTokenizer.code).toBe(2)
    expect(textWithoutTokenizer.stderr).toContain('has no tokenizer (tokenizer.json): give the prompt as --prompt-ids')
    const missing = await finish(['generate', '--model', join(root, 'nowhere'), '--prompt-ids', '1'])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain(join(root, 'nowhere'))
    expect(missing.stderr).not.toContain('    at ')
  })

  it('refuses a prompt the model cannot take in one line naming the flag and the limit', async () => {
    const outside = await finish(['generate', '--model', vocab300, '--prompt-ids', '300'])
    expect(outside.code).toBe(2)
    expect(outside.stderr).toContain("--prompt-ids: token id 300 is outside this model's vocabulary (0..299)")
    expect(outside.stderr).not.toContain('    at ')
    const ids = Array.from({ length: 300 }, (_, i) => i % 40).join(',')
    const long = await finish(['generate', '--model', idsOnly, '--prompt-ids', ids])
    expect(long.code).toBe(2)
    expect(long.stderr).toContain("--prompt-ids: the prompt is 300 tokens, but this model's context is 256 tokens (from max_position_embeddings in config.json)")
    const text = await finish(['generate', '--model', withTokenizer, '--prompt', 'hi '.repeat(400)])
    expect(text.code).toBe(2)
    expect(text.stderr).toMatch(/--prompt: the prompt is \d+ tokens, but this model's context is 256 tokens/)
  })

  it('refuses a broken model folder in one line naming the file and field, without allocating for it', async () => {
    const absurd = await finish(['generate', '--model', billionLayers, '--prompt-ids', '1'])
    expect(absurd.code).toBe(1)
    expect(absurd.stderr.trim()).toBe(`sorted generate: ${join(billionLayers, 'config.json')}: field "num_hidden_layers": 1000000000: at most 1024 (no real model is this large; is config.json corrupt?)`)
    const folder = await finish(['generate', '--model', folderWeights, '--prompt-ids', '1'])
    expect(folder.code).toBe(1)
    expect(folder.stderr.trim()).toBe(`sorted generate: ${join(folderWeights, 'model.safetensors')}: is a folder, not a safetensors file`)
  })
})
