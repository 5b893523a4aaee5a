import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { writeTinyTextModel } from '../fixtures/fixtures'
import { launchChromium, screenshot, serve, type ServedApp } from './harness'

const root = mkdtempSync(join(tmpdir(), 'sorted-compare-'))
const modelA = join(root, 'a')
const modelB = join(root, 'b')
const set = join(root, 'set.jsonl')
let browser: Browser
let app: ServedApp

beforeAll(async () => {
  writeTinyTextModel(modelA, { seed: 1 })
  writeTinyTextModel(modelB, { seed: 2 })
  writeFileSync(set, `${['hi', 'ho', 'ha'].map((w) => JSON.stringify({ instruction: `say ${w}`, reference: `${w} ${w}` })).join('\n')}\n`)
  browser = await launchChromium()
  app = await serve(join(root, 'data'))
})

afterAll(async () => {
  await browser?.close()
  await app?.stop()
  rmSync(root, { recursive: true, force: true })
})

/** A page on `route` that records console errors and uncaught exceptions (CSP violations show up here). */
async function open(route: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } })
  const errors: string[] = []
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text())
  })
  page.on('pageerror', (error) => errors.push(error.message))
  await page.goto(`${app.url}#${route}`)
  return { page, errors }
}

/** Types a model folder into a contender picker, lets it read the exits, and picks one. */
async function pick(page: Page, legend: string, folder: string, exit: string) {
  const picker = page.getByRole('group', { name: legend })
  await picker.getByLabel('Model folder').fill(folder)
  await picker.getByLabel('Model folder').press('Enter')
  const select = picker.getByLabel('Exit')
  await expect.poll(() => select.isEnabled(), { timeout: 30_000 }).toBe(true)
  await select.selectOption(exit)
}

describe('compare view', () => {
  it('streams two exits side by side with their speeds, takes a vote, and shows it after a reload', async () => {
    const { page, errors } = await open('/compare')
    await page.getByRole('heading', { name: 'Compare', exact: true }).waitFor()
    await pick(page, 'Contender 1 (left)', modelA, '1')
    await pick(page, 'Contender 2 (right)', modelA, '3')
    await page.getByLabel('Prompt').fill('say hi')
    await page.getByLabel('Max new tokens').fill('8')
    await page.getByRole('button', { name: 'Run both' }).click()

    for (const pane of ['pane-a', 'pane-b']) {
      const speed = page.getByTestId(pane).getByTestId('pane-speed')
      await expect.poll(() => speed.textContent(), { timeout: 60_000 }).toMatch(/[\d.]+ tokens\/s/)
      expect(await page.getByTestId(pane).getByTestId('pane-state').textContent()).toMatch(/^Done/)
    }
    expect(await page.getByRole('region', { name: 'Response 1: a@1' }).count()).toBe(1)
    expect(await page.getByRole('region', { name: 'Response 2: a@3' }).count()).toBe(1)

    // The key 1 votes for response 1; a click on Tie then replaces that vote.
    await page.keyboard.press('1')
    await expect.poll(() => page.getByTestId('vote-status').textContent(), { timeout: 30_000 }).toContain('Vote saved')
    expect(await page.getByRole('button', { name: 'Response 1 is better' }).getAttribute('aria-pressed')).toBe('true')
    await expect.poll(() => page.getByTestId('votes').getByTestId('vote-verdict').allTextContents()).toEqual(['a@1 better'])
    await page.getByRole('button', { name: 'Tie' }).click()
    await expect.poll(() => page.getByTestId('votes').getByTestId('vote-verdict').allTextContents()).toEqual(['Tie'])
    expect(await page.getByRole('button', { name: 'Response 1 is better' }).getAttribute('aria-pressed')).toBe('false')
    await screenshot(page, 'compare-voted')

    await page.reload()
    const votes = page.getByTestId('votes')
    await votes.waitFor({ timeout: 30_000 })
    expect(await votes.textContent()).toContain('say hi')
    expect(await votes.textContent()).toContain('a@1 vs a@3')
    expect(await votes.getByTestId('vote-verdict').allTextContents()).toEqual(['Tie'])
    expect(errors).toEqual([])
    await page.close()
  })
})

describe('compare view modes', () => {
  it('answers one side in Exact and the other in Auto (τ), each pane naming its mode and what it measured', async () => {
    const { page, errors } = await open('/compare')
    await page.getByRole('heading', { name: 'Compare', exact: true }).waitFor()
    await pick(page, 'Contender 1 (left)', modelA, 'exact')
    await pick(page, 'Contender 2 (right)', modelA, 'auto')
    await page.getByRole('group', { name: 'Contender 2 (right)' }).getByLabel('Auto τ').fill('0.5')
    await page.getByRole('group', { name: 'Contender 2 (right)' }).getByLabel('Auto τ').dispatchEvent('change')
    await page.getByLabel('Prompt').fill('say modes')
    await page.getByLabel('Max new tokens').fill('6')
    await page.getByRole('button', { name: 'Run both' }).click()

    const mode = (pane: string) => page.getByTestId(pane).getByTestId('pane-mode')
    await expect.poll(() => mode('pane-a').textContent(), { timeout: 60_000 }).toMatch(/^Exact · acceptance (\d+%|n\/a)$/)
    await expect.poll(() => mode('pane-b').textContent(), { timeout: 60_000 }).toMatch(/^Auto τ 0\.5 · mean exit \d\.\d$/)
    expect(await page.getByRole('region', { name: 'Response 1: a@exact' }).count()).toBe(1)
    expect(await page.getByRole('region', { name: 'Response 2: a@auto:0.5' }).count()).toBe(1)
    expect(errors).toEqual([])
    await page.close()
  })
})

describe('batch evaluation page', () => {
  it('imports a set, runs every exit of A against B with the reference judge, and shows the matrix and plot again after a reload', async () => {
    const { page, errors } = await open('/compare/batch')
    await page.getByRole('heading', { name: 'Batch evaluation' }).waitFor()
    await page.getByLabel('Import a file').fill(set)
    await page.getByRole('button', { name: 'Import' }).click()
    await expect.poll(() => page.getByLabel('Set', { exact: true }).locator('option:checked').textContent(), { timeout: 30_000 }).toContain('3 items, 3 with references')

    await pick(page, 'Contender A', modelA, 'every')
    await pick(page, 'Contender B (the opponent)', modelB, '3')
    await page.getByLabel('Max new tokens').fill('4')
    await page.getByRole('button', { name: 'Start' }).click()

    const status = page.getByTestId('evaluation-status')
    await expect.poll(() => status.textContent(), { timeout: 120_000 }).toContain('Finished')
    // B's 3 answers and 3 per exit of A; 3 pairs judged per exit.
    expect(await status.textContent()).toContain('12 answers generated (0 reused), 9 pairs judged')

    const matrix = page.getByTestId('results-matrix')
    await matrix.waitFor({ timeout: 30_000 })
    const rows = matrix.locator('tbody tr')
    expect(await rows.count()).toBe(3)
    expect(await rows.locator('th').allTextContents()).toEqual(['@1', '@2', '@3'])
    // W / L / T of N, then the score.
    for (const cell of await rows.locator('td:nth-child(3)').allTextContents()) expect(cell.trim()).toMatch(/^[\d.]+ \/ [\d.]+ \/ [\d.]+ of 3\s*[+-]?\d\.\d{3}$/)
    expect(await matrix.locator('thead').textContent()).toContain('vs b@3')
    await expectChartDrawn(page)

    // A person votes on the stored answers of one pair: the human judge's matrix joins the results.
    await page.getByLabel('Pair').selectOption({ label: 'a@1 vs b@3 (4 new tokens)' })
    await expect.poll(async () => (await page.getByTestId('review-position').textContent())?.trim(), { timeout: 30_000 }).toBe('Item 1 of 3 · 0 voted')
    await page.getByRole('group', { name: 'Your verdict on this item' }).getByRole('button', { name: 'Tie' }).click()
    await expect.poll(async () => (await page.getByTestId('review-position').textContent())?.trim(), { timeout: 30_000 }).toBe('Item 2 of 3 · 1 voted')
    const shows = page.getByLabel('Show')
    await expect.poll(() => shows.locator('option').allTextContents(), { timeout: 30_000 }).toContain('a · judge human · 4 new tokens')
    await screenshot(page, 'batch-results')

    await page.reload()
    await page.getByTestId('results-matrix').waitFor({ timeout: 30_000 })
    expect(await page.getByTestId('results-matrix').locator('tbody tr').count()).toBe(3)
    await expectChartDrawn(page)
    await shows.selectOption({ label: 'a · judge human · 4 new tokens' })
    const human = page.getByTestId('results-matrix').locator('tbody tr')
    expect(await human.locator('th').allTextContents()).toEqual(['@1'])
    expect((await human.locator('td:nth-child(3)').textContent())?.trim()).toMatch(/^0 \/ 0 \/ 1 of 1\s*0\.000$/)
    expect(errors).toEqual([])
    await page.close()
  })

  it("offers PandaLM's 170 instructions as a ready-made set, shipped with the app", async () => {
    const { page, errors } = await open('/compare/batch')
    const readyMade = page.getByLabel('Ready-made set')
    const offered = async () => (await readyMade.locator('option').allTextContents()).map((text) => text.trim())
    await expect.poll(offered, { timeout: 30_000 }).toContain('PandaLM inference set — 170 items, 0 with references')
    await readyMade.selectOption({ label: 'PandaLM inference set — 170 items, 0 with references' })
    await page.getByRole('button', { name: 'Add', exact: true }).click()
    await expect.poll(() => page.getByLabel('Set', { exact: true }).locator('option:checked').textContent(), { timeout: 30_000 }).toContain('PandaLM inference set — 170 items, 0 with references')
    expect(errors).toEqual([])
    await page.close()
  })
})

/** The plot's canvas has a size and painted pixels. */
async function expectChartDrawn(page: Page) {
  const canvas = page.getByTestId('quality-speed-chart')
  await canvas.waitFor()
  await expect
    .poll(
      () =>
        canvas.evaluate((el) => {
          // Typed by hand: the tests' tsconfig has no DOM library.
          const c = el as unknown as { width: number; height: number; getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } | null }
          if (c.width === 0 || c.height === 0) return 0
          const pixels = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data
          let painted = 0
          for (let i = 3; i < pixels.length; i += 4) if (pixels[i]! > 0) painted++
          return painted
        }),
      { timeout: 30_000 },
    )
    .toBeGreaterThan(500)
}
