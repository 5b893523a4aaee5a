/**
 * A GPTQ folder under `sorted eval-loss` and `sorted eval`: it runs int4 in
 * its own packing when no precision is given, and a precision it cannot
 * load in is refused before any model is read, naming the flag that asked.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest'
import type { Command } from '../../../src-main/cli/commands'
import { evalCommand } from '../../../src-main/cli/eval'
import { evalLossCommand } from '../../../src-main/cli/tune'
import { tinyConfig, tinyWeights } from '../engine/generate/random-model'
import { writePrequantizedFolder } from '../engine/generate/prequantized-folder'

const root = mkdtempSync(join(tmpdir(), 'cli-prequantized-'))
const gptqDir = join(root, 'gptq')
const data = join(root, 'tokens.jsonl')
const set = join(root, 'set.jsonl')
const config = tinyConfig({ architecture: 'llama', heads: 4, kvHeads: 2, hidden: 64, intermediate: 96, layers: 2, vocab: 64 })
writePrequantizedFolder(gptqDir, config, tinyWeights(config, 7), { method: 'gptq', groupSize: 32, symmetric: true, seed: 3 })
writeFileSync(data, `${Array.from({ length: 4 }, (_, i) => JSON.stringify({ input_ids: [5, 6 + i, 7, 8, 9 + i], labels: [-100, -100, 7, 8, 9 + i] })).join('\n')}\n`)
writeFileSync(set, `${JSON.stringify({ instruction: 'say hi', reference: 'hi' })}\n`)
afterAll(() => rmSync(root, { recursive: true, force: true }))
afterEach(() => vi.restoreAllMocks())

const commands: Record<string, Command> = { 'eval-loss': evalLossCommand, eval: evalCommand }

async function sorted(command: string, ...args: string[]): Promise<{ code: number; stdout: string }> {
  let stdout = ''
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((stdout += String(chunk)), true))
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
  try {
    return { code: await commands[command]!.run(args), stdout }
  } finally {
    vi.restoreAllMocks()
  }
}

async function refusal(command: string, ...args: string[]): Promise<string> {
  return sorted(command, ...args).then(
    () => 'expected a refusal',
    (e: unknown) => (e as Error).message,
  )
}

describe('a GPTQ folder', () => {
  it('eval-loss runs it in int4 through the inference graphs by default', async () => {
    const result = await sorted('eval-loss', '--model', gptqDir, '--data', data, '--seq-len', '16', '--json')
    expect(result.code).toBe(0)
    const out = JSON.parse(result.stdout)
    expect(out).toMatchObject({ weights: 'int4', block_size: 32, graph: 'inference' })
    expect(Object.keys(out.loss)).toEqual(['1', '2'])
    expect(JSON.parse((await sorted('eval-loss', '--model', gptqDir, '--data', data, '--seq-len', '16', '--weights', 'int4', '--json')).stdout)).toEqual(out)
  }, 60_000)

  it('is refused in another precision, naming the flag that asked for it', async () => {
    const loads = `${gptqDir}: the model holds GPTQ 4-bit weights, so it loads as int4 only`
    expect(await refusal('eval-loss', '--model', gptqDir, '--data', data, '--seq-len', '16', '--weights', 'fp32')).toBe(
      `--weights fp32: ${loads}, not fp32 (omit --weights, or pass --weights int4).`,
    )
    expect(await refusal('eval-loss', '--model', gptqDir, '--data', data, '--seq-len', '16', '--weights', 'int8')).toBe(
      `--weights int8: ${loads}, not int8 (omit --weights, or pass --weights int4).`,
    )
    const evalArgs = ['--set', set, '--a', gptqDir, '--b', gptqDir, '--data-dir', join(root, 'never')]
    expect(await refusal('eval', ...evalArgs, '--weights-a', 'int8')).toBe(`--weights-a int8: ${loads}, not int8 (omit --weights-a, or pass --weights-a int4).`)
    expect(await refusal('eval', ...evalArgs, '--weights', 'fp32', '--weights-a', 'int4')).toBe(`--weights fp32: ${loads}, not fp32 (omit --weights, or pass --weights int4).`)
  })
})
