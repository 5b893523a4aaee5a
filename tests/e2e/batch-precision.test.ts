/**
 * The batch page pits the bundled model in int4 (at an exit, and in Exact
 * mode) against itself in fp32: each precision and mode is its own row of
 * the results and its own series in the quality-vs-speed plot, and B's
 * answers are made once and reused.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { afterAll, describe, expect, it } from 'vitest'
import { repoRoot, screenshot, servedPage } from './harness'

const bundled = join(repoRoot, 'resources', 'models', 'dictionary-soft')
const root = mkdtempSync(join(tmpdir(), 'sorted-batch-precision-set-'))
const set = join(root, 'three.jsonl')
// Three of the bundled held-out definitions (Alpaca lines: the output is the reference).
writeFileSync(set, `${readFileSync(join(repoRoot, 'resources', 'eval', 'dictionary-heldout.jsonl'), 'utf8').split('\n').slice(0, 3).join('\n')}\n`)
const served = servedPage('sorted-batch-precision-')

afterAll(() => rmSync(root, { recursive: true, force: true }))

/** Reads the folder into a contender picker, then picks an exit (or 'exact') and a precision. */
async function pick(page: Page, legend: string, exit: string, precision: string) {
  const picker = page.getByRole('group', { name: legend })
  if ((await picker.getByLabel('Model folder').inputValue()) !== bundled) {
    await picker.getByLabel('Model folder').fill(bundled)
    await picker.getByLabel('Model folder').press('Enter')
  }
  const select = picker.getByLabel('Exit')
  await expect.poll(() => select.isEnabled(), { timeout: 60_000 }).toBe(true)
  await select.selectOption(exit)
  await picker.getByLabel('Precision').selectOption(precision)
}

/** Starts the evaluation and waits for its summary line. */
async function run(page: Page): Promise<string> {
  await page.getByRole('button', { name: 'Start' }).click()
  const status = page.getByTestId('evaluation-status')
  await expect.poll(() => status.textContent(), { timeout: 400_000, interval: 1000 }).toContain('Finished')
  return (await status.textContent()) ?? ''
}

describe('batch evaluation across precisions and modes', () => {
  it('runs the bundled model in int4 at an exit and in Exact mode against fp32, each its own row and plot series', { timeout: 900_000 }, async () => {
    const { page, errors } = served
    await page.goto(`${served.app.url}#/compare/batch`)
    await page.getByRole('heading', { name: 'Batch evaluation' }).waitFor()
    await page.getByLabel('Import a file').fill(set)
    await page.getByRole('button', { name: 'Import' }).click()
    await expect.poll(() => page.getByLabel('Set', { exact: true }).locator('option:checked').textContent(), { timeout: 30_000 }).toContain('3 items, 3 with references')
    await page.getByLabel('Max new tokens').fill('6')

    await pick(page, 'Contender B (the opponent)', '8', 'fp32')
    await pick(page, 'Contender A', '4', 'int4')
    expect(await run(page)).toContain('6 answers generated (0 reused), 3 pairs judged (0 reused). A: int4 weights. B: fp32 weights.')
    // fp32 at the same exit is another contender: its answers are made, B's reused.
    await pick(page, 'Contender A', '4', 'fp32')
    expect(await run(page)).toContain('3 answers generated (3 reused), 3 pairs judged (0 reused)')
    await pick(page, 'Contender A', 'exact', 'int4')
    expect(await run(page)).toMatch(/3 answers generated \(3 reused\), 3 pairs judged \(0 reused\)\. A: int4 weights, Exact · acceptance (\d+%|n\/a)\./)

    const matrix = page.getByTestId('results-matrix')
    await expect.poll(() => matrix.locator('tbody th').allTextContents(), { timeout: 30_000 }).toEqual(['@4', '@4 int4', '@exact int4'])
    expect(await matrix.locator('thead').textContent()).toContain('vs dictionary-soft@8')
    expect(await matrix.locator('tbody tr').nth(2).textContent()).toMatch(/Exact · acceptance (\d+%|n\/a)/)
    for (const cell of await matrix.locator('tbody td:nth-child(4)').allTextContents()) expect(cell.trim()).toMatch(/^[\d.]+ \/ [\d.]+ \/ [\d.]+ of 3\s*[+-]?\d\.\d{3}$/)
    const chart = page.getByTestId('quality-speed-chart')
    const described = (await chart.getAttribute('aria-label')) ?? ''
    expect(described).toContain('exits fp32 vs dictionary-soft@8: @4 at')
    expect(described).toContain('exits int4 vs dictionary-soft@8: @4 int4 at')
    expect(described).toContain('Exact int4 vs dictionary-soft@8: @exact int4 at')
    const speeds = await page.getByTestId('contender-speed').allTextContents()
    expect(speeds.map((s) => s.replace(/\s+/g, ' ').split(':')[0]!.trim())).toEqual(
      expect.arrayContaining(['dictionary-soft@4 (6 new tokens)', 'dictionary-soft@4 int4 (6 new tokens)', 'dictionary-soft@exact int4 (6 new tokens)', 'dictionary-soft@8 (6 new tokens)']),
    )
    await screenshot(page, 'batch-precision')
    expect(errors).toEqual([])
  })
})
