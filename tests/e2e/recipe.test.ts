import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ModelSession } from '../../src-main/engine/generate/model-session'
import { repoRoot } from './harness'

const work = mkdtempSync(join(tmpdir(), 'recipe-smoke-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

const recipe = () =>
  spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'scripts/recipe/default-model.ts'), '--smoke', '--work', work], { cwd: repoRoot, encoding: 'utf8' })

// Generous limits: the smoke recipe reads all of WordNet, and shares two cores with whatever else runs.
describe('default-model recipe (smoke scale)', { timeout: 300_000 }, () => {
  it('builds corpus, tokenizer, base, SoFT and SFT models, evaluates every exit and ships both', async () => {
    const run = recipe()
    expect(run.status, run.stderr).toBe(0)
    for (const name of ['dictionary-soft', 'dictionary-sft']) {
      const dir = join(work, 'shipped', name)
      expect(existsSync(join(dir, 'wordnet-LICENSE'))).toBe(true)
      const sorted = JSON.parse(readFileSync(join(dir, 'sorted.json'), 'utf8'))
      expect(sorted.exits).toEqual([1, 2])
      expect(Object.keys(sorted.results)).toEqual(['1', '2'])
      expect(sorted.results['2']).toEqual(
        expect.objectContaining({ val_loss: expect.any(Number), exact_match: expect.any(Number), rouge_l: expect.any(Number), decode_tokens_per_s: expect.any(Number) }),
      )
      expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).torch_dtype).toBe('float16')
      // It opens like any Hugging Face folder, with its tokenizer and chat template.
      const session = await ModelSession.open(dir)
      expect(session.info).toMatchObject({ numLayers: 2, hasTokenizer: true, hasChatTemplate: true })
      await session.release()
    }
  })

  it('reports the per-exit table, the aims and the define rate, and writes a held-out evaluation set with references', () => {
    const evalSet = join(work, 'heldout.jsonl')
    const report = spawnSync(
      process.execPath,
      ['--import', 'tsx', join(repoRoot, 'scripts/recipe/report.ts'), '--models', join(work, 'shipped'), '--corpus', join(work, 'corpus'), '--eval-set', evalSet],
      { cwd: repoRoot, encoding: 'utf8' },
    )
    expect(report.status, report.stderr).toBe(0)
    expect(report.stdout).toMatch(/^\| 1 \| \d+\.\d{3} \| \d+\.\d{3} \|/m)
    expect(report.stdout).toMatch(/^\| 2 \| /m)
    expect(report.stdout).toMatch(/aim: SoFT full within 2% of SFT full: -?\d+\.\d% → (met|not met)/)
    expect(report.stdout).toMatch(/dictionary-soft, full model, "define X" on held-out words: \d+\/\d+/)
    const items = readFileSync(evalSet, 'utf8').trim().split('\n').map((l) => JSON.parse(l))
    expect(items.length).toBeGreaterThan(10)
    const test = readFileSync(join(work, 'corpus', 'test.jsonl'), 'utf8')
    for (const item of items) {
      expect(item.output.length).toBeGreaterThan(0)
      expect(test).toContain(JSON.stringify(item.instruction))
    }
  })

  it('skips finished stages when run again', () => {
    const again = recipe()
    expect(again.status, again.stderr).toBe(0)
    expect(again.stdout.match(/done earlier, skipped/g)).toHaveLength(8)
  })
})
