/**
 * The adapter flags end to end, in process: `sorted tune --adapter lora`
 * writes a PEFT folder, `sorted merge` makes a Hugging Face folder of it,
 * and `eval-loss` / `generate` with `--adapter` give what the merged folder
 * gives.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest'
import type { Command } from '../../../src-main/cli/commands'
import { generateCommand } from '../../../src-main/cli/generate'
import { mergeCommand } from '../../../src-main/cli/merge'
import { evalLossCommand, tuneCommand } from '../../../src-main/cli/tune'
import { AdapterError } from '../../../src-main/engine/model/peft-adapter'
import { writeTinyTextModel } from '../../fixtures/fixtures'

const root = mkdtempSync(join(tmpdir(), 'cli-adapter-'))
const modelDir = join(root, 'tiny')
const data = join(root, 'data.jsonl')
writeTinyTextModel(modelDir, { seed: 4 })
writeFileSync(data, `${Array.from({ length: 8 }, (_, i) => JSON.stringify({ instruction: `count to ${i}`, output: `${i} ${i + 1}` })).join('\n')}\n`)
afterAll(() => rmSync(root, { recursive: true, force: true }))
afterEach(() => vi.restoreAllMocks())

const commands: Record<string, Command> = { tune: tuneCommand, 'eval-loss': evalLossCommand, generate: generateCommand, merge: mergeCommand }

/** Runs `sorted <command> ...args` (main.ts's dispatch, which turns what it throws into one line and an exit code), returning its code and output. */
async function sorted(command: string, ...args: string[]): Promise<{ code: number; stdout: string }> {
  let stdout = ''
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((stdout += String(chunk)), true))
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
  try {
    const code = await commands[command]!.run(args)
    return { code, stdout }
  } finally {
    vi.restoreAllMocks()
  }
}

/** What `sorted <command> ...args` is refused with. */
async function refusal(command: string, ...args: string[]): Promise<Error> {
  return sorted(command, ...args).then(() => new Error('expected a refusal'), (e: unknown) => e as Error)
}

const tuneArgs = (out: string, ...extra: string[]): [string, ...string[]] => ['tune', '--model', modelDir, '--data', data, '--mode', 'soft', '--out', out, '--max-steps', '3', '--lr', '0.01', '--seq-len', '32', '--batch-size', '2', ...extra]

describe('sorted tune --adapter, merge, and running an adapter', () => {
  const adapterDir = join(root, 'adapter')
  const mergedDir = join(root, 'merged')

  it('tunes a DyLoRA adapter and merges it (at a chosen rank) into a Hugging Face folder', async () => {
    const tuned = await sorted(...tuneArgs(adapterDir, '--adapter', 'dylora', '--lora-rank', '4', '--lora-targets', 'q,v,up'))
    expect(tuned.code).toBe(0)
    expect(existsSync(join(adapterDir, 'adapter_config.json'))).toBe(true)
    const merged = await sorted('merge', '--base', modelDir, '--adapter', adapterDir, '--out', mergedDir, '--adapter-rank', '2')
    expect(merged.code).toBe(0)
    for (const file of ['config.json', 'model.safetensors', 'sorted.json', 'tokenizer.json']) expect(existsSync(join(mergedDir, file))).toBe(true)
  })

  it('eval-loss and generate with --adapter give what the merged model gives', async () => {
    const viaAdapter = await sorted('eval-loss', '--model', modelDir, '--adapter', adapterDir, '--adapter-rank', '2', '--data', data, '--seq-len', '32', '--json')
    const viaMerged = await sorted('eval-loss', '--model', mergedDir, '--data', data, '--seq-len', '32', '--json')
    const base = await sorted('eval-loss', '--model', modelDir, '--data', data, '--seq-len', '32', '--json')
    expect(viaAdapter.code).toBe(0)
    expect(JSON.parse(viaAdapter.stdout)).toEqual(JSON.parse(viaMerged.stdout))
    expect(JSON.parse(viaAdapter.stdout)).not.toEqual(JSON.parse(base.stdout))
    // In int8 too: the adapter is merged into the fp32 weights, which are then quantized as the merged folder's are.
    const int8 = ['--data', data, '--seq-len', '32', '--weights', 'int8', '--json']
    const int8ViaAdapter = await sorted('eval-loss', '--model', modelDir, '--adapter', adapterDir, '--adapter-rank', '2', ...int8)
    expect(int8ViaAdapter.code).toBe(0)
    expect(JSON.parse(int8ViaAdapter.stdout)).toMatchObject({ weights: 'int8', graph: 'inference' })
    expect(JSON.parse(int8ViaAdapter.stdout)).toEqual(JSON.parse((await sorted('eval-loss', '--model', mergedDir, ...int8)).stdout))
    const generateArgs = ['--prompt-ids', '5,6,7', '--max-new-tokens', '6', '--json']
    const generatedViaAdapter = await sorted('generate', '--model', modelDir, '--adapter', adapterDir, '--adapter-rank', '2', ...generateArgs)
    const generatedViaMerged = await sorted('generate', '--model', mergedDir, ...generateArgs)
    expect(JSON.parse(generatedViaAdapter.stdout).tokens).toEqual(JSON.parse(generatedViaMerged.stdout).tokens)
  })

  it('refuses bad adapter flags with a message naming the flag', async () => {
    expect((await refusal(...tuneArgs(join(root, 'never-1'), '--adapter', 'lora', '--lora-dropout', '0.1'))).message).toBe(
      '--lora-dropout 0.1: only 0 is supported (adapter dropout is not implemented; the training graphs are deterministic).',
    )
    expect((await refusal(...tuneArgs(join(root, 'never-2'), '--adapter', 'qdora'))).message).toBe('--adapter must be lora, dylora or qlora (got "qdora").')
    expect((await refusal(...tuneArgs(join(root, 'never-4'), '--adapter', 'lora', '--block-size', '64'))).message).toBe(
      "--block-size only applies to a QLoRA run (the 4-bit base's block): add --adapter qlora.",
    )
    expect((await refusal(...tuneArgs(join(root, 'never-5'), '--adapter', 'qlora', '--block-size', '48'))).message).toBe('--block-size must be 32, 64, 128 (got 48).')
    expect((await refusal('eval-loss', '--model', modelDir, '--adapter', adapterDir, '--adapter-rank', '9', '--data', data, '--seq-len', '32')).message).toBe(
      `--adapter-rank 9 is above the adapter's r 4 (${adapterDir}).`,
    )
    const notAnAdapter = await refusal('merge', '--base', modelDir, '--adapter', modelDir, '--out', join(root, 'never-3'))
    expect(notAnAdapter).toBeInstanceOf(AdapterError)
    expect(notAnAdapter.message).toBe(`${modelDir} is not a PEFT adapter folder: it has no adapter_config.json`)
    expect(existsSync(join(root, 'never-3'))).toBe(false)
  })
})
