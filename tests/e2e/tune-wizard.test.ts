/**
 * The fine-tuning wizard and the Runs page, driven in Chromium through
 * browser mode against the built app, on a tiny model and small datasets.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openStore } from '../../src-main/store'
import { writeTinyTextModel } from '../fixtures/fixtures'
import { launchChromium, screenshot, serve, type ServedApp } from './harness'

const root = mkdtempSync(join(tmpdir(), 'sorted-wizard-'))
const modelDir = join(root, 'model')
const data = join(root, 'alpaca.jsonl')
const running: ServedApp[] = []
let browser: Browser

const words = ['hi', 'ho', 'ha', 'he']
// The fixture's tokenizer spells "hi" and " hi" (other characters are dropped): responses are made of them.
const record = (i: number) => ({ instruction: `say ${words[i % 4]} ${i}`, input: '', output: i % 2 ? 'hi' : 'hi hi' })

beforeAll(async () => {
  writeTinyTextModel(modelDir, { seed: 8 })
  writeFileSync(data, `${Array.from({ length: 20 }, (_, i) => JSON.stringify(record(i))).join('\n')}\n`)
  browser = await launchChromium()
})

afterAll(async () => {
  await browser?.close()
  await Promise.all(running.map((app) => app.stop()))
  rmSync(root, { recursive: true, force: true })
})

async function start(dataDir: string): Promise<ServedApp> {
  const app = await serve(dataDir)
  running.push(app)
  return app
}

/** A page that records console errors and uncaught exceptions (CSP violations show up here). */
async function open(url: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } })
  const errors: string[] = []
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text())
  })
  page.on('pageerror', (error) => errors.push(error.message))
  await page.goto(url)
  return { page, errors }
}

// A hang guard, not a speed check: a 400-step run on a busy two-core machine can take minutes.
const slow = { timeout: 180_000 }

async function chooseModel(page: Page): Promise<void> {
  await page.getByRole('link', { name: 'Fine-tune' }).click()
  await page.locator('#model-path').fill(modelDir)
  await page.locator('#model-path').press('Enter')
  await expect.poll(() => page.getByTestId('model-layers').textContent(), slow).toBe('3')
  await page.getByRole('button', { name: 'Next: dataset' }).click()
}

async function chooseData(page: Page, path: string, records: number): Promise<void> {
  await page.locator('#seq-len').fill('64')
  await page.locator('#data-path').fill(path)
  await page.locator('#data-path').press('Enter')
  await expect.poll(() => page.getByTestId('stat-records').textContent(), slow).toBe(String(records))
}

/** Method step: SoFT on every exit for `steps` steps, small batches, frequent checkpoints. */
async function configure(page: Page, steps: number, checkpointEvery: number): Promise<void> {
  await page.getByRole('button', { name: 'Next: method' }).click()
  await page.getByRole('radio', { name: /SoFT/ }).check()
  await page.getByRole('button', { name: 'All layers' }).click()
  await page.getByRole('radio', { name: 'Steps', exact: true }).check()
  await page.getByRole('spinbutton', { name: 'Steps', exact: true }).fill(String(steps))
  await page.getByLabel('Learning rate').fill('0.003')
  await page.getByLabel('Batch size').fill('2')
  await page.getByLabel('Validation share').fill('0.2')
  await page.getByLabel('Validate every').fill(String(Math.max(1, Math.floor(steps / 2))))
  await page.getByLabel('Checkpoint every').fill(String(checkpointEvery))
  await expect.poll(() => page.getByTestId('estimate').textContent(), slow).toContain(`for ${steps} steps`)
}

async function series(page: Page): Promise<Record<string, number>> {
  return JSON.parse((await page.getByTestId('loss-chart').getAttribute('data-series')) ?? '{}')
}

describe('fine-tuning in the browser', () => {
  it('runs the wizard end to end: preview, exits, estimate, live curves, result table, and the model in the library', async () => {
    const dataDir = join(root, 'wizard')
    const app = await start(dataDir)
    const { page, errors } = await open(app.url)
    await chooseModel(page)
    await chooseData(page, data, 20)
    // The first records as trained: template applied, the response highlighted.
    expect(await page.getByTestId('preview-record').count()).toBe(5)
    expect(await page.getByTestId('trained-segment').allTextContents()).toEqual(['hi hi</s>', 'hi</s>', 'hi hi</s>', 'hi</s>', 'hi hi</s>'])
    expect(await page.getByTestId('dataset-errors').count()).toBe(0)
    await screenshot(page, 'tune-dataset')

    await configure(page, 6, 2)
    // The exit strip is keyboard operable: move to layer 1 and turn it off, then on again.
    const strip = page.getByTestId('exit-strip')
    await strip.getByRole('button', { name: /Exit after layer 3/ }).focus()
    await page.keyboard.press('ArrowLeft')
    await page.keyboard.press('ArrowLeft')
    await page.keyboard.press('Space')
    expect(await strip.getByRole('button', { name: /Exit after layer 1$/ }).getAttribute('aria-pressed')).toBe('false')
    await page.keyboard.press('Enter')
    expect(await strip.getByRole('button', { name: /Exit after layer 1$/ }).getAttribute('aria-pressed')).toBe('true')
    await screenshot(page, 'tune-method')

    await page.getByRole('button', { name: 'Start fine-tuning' }).click()
    await page.getByRole('heading', { name: 'Result' }).waitFor(slow)
    expect(page.url()).toMatch(/#\/tune\?run=/)
    // One curve per exit, every step drawn, and the validations.
    await expect.poll(() => series(page), slow).toEqual({ 'train 1': 6, 'train 2': 6, 'train 3': 6, 'validation 1': 2, 'validation 2': 2, 'validation 3': 2 })
    expect(await page.locator('[data-testid=loss-chart] canvas').count()).toBe(1)
    const table = page.getByTestId('validation-table')
    expect(await table.locator('tbody tr').count()).toBe(3)
    expect(await table.locator('tbody th').allTextContents()).toEqual(['1', '2', '3 (full model)'])
    const outputPath = await page.getByTestId('copyable-path').textContent()
    const chat = (await page.locator('main').getByRole('link', { name: 'Chat with it' }).getAttribute('href'))!
    expect(chat.startsWith('#/chat?')).toBe(true)
    expect(new URLSearchParams(chat.split('?')[1]).get('model')).toBe(outputPath)
    const compare = (await page.locator('main').getByRole('link', { name: 'Compare', exact: true }).getAttribute('href'))!
    expect(new URLSearchParams(compare.split('?')[1]).get('a')).toBe(outputPath)
    await screenshot(page, 'tune-result')

    // Export copies the folder.
    const exportTo = join(root, 'exported')
    await page.locator('#export-to').fill(exportTo)
    await page.getByRole('button', { name: 'Export', exact: true }).click()
    await expect.poll(() => page.getByTestId('exported').textContent(), slow).toContain(exportTo)
    expect(existsSync(join(exportTo, 'model.safetensors'))).toBe(true)
    // Export as a multi-GPU job: the folder is written and the torchrun command shown.
    const jobDir = join(root, 'job')
    await page.locator('#job-dir').fill(jobDir)
    await page.getByRole('button', { name: 'Export job' }).click()
    await expect.poll(() => page.getByTestId('exported-job').textContent(), slow).toContain(`torchrun --nproc_per_node 8 ${join(jobDir, 'train.py')}`)
    expect(existsSync(join(jobDir, 'job.json'))).toBe(true)

    // The tuned model is in the library, with its exits and results.
    const store = openStore(join(dataDir, 'sorted.db'))
    const model = store.models.list().find((m) => m.path === outputPath)
    store.close()
    expect(model).toMatchObject({ source: 'trained', exits: [1, 2, 3] })
    expect(Object.keys(model!.results)).toEqual(['1', '2', '3'])
    await page.getByRole('link', { name: 'In the library' }).click()
    const entry = page.getByTestId(`model-${model!.name}`)
    await entry.waitFor(slow)
    expect(await entry.textContent()).toContain('trained')

    // Compare opens with the tuned model as contender 1.
    await page.goBack()
    await page.locator('main').getByRole('link', { name: 'Compare', exact: true }).click()
    const first = page.getByRole('group', { name: 'Contender 1 (left)' }).getByLabel('Model folder')
    await expect.poll(() => first.inputValue(), slow).toBe(outputPath)
    expect(errors).toEqual([])
    await page.close()
  })

  it('shows every bad line of an uploaded dataset with its line and field, and trains only if told to skip them', async () => {
    const app = await start(join(root, 'bad'))
    const { page, errors } = await open(app.url)
    await chooseModel(page)
    await page.locator('#seq-len').fill('64')
    const bad = [JSON.stringify(record(0)), '{"instruction": "x", "output": 5}', JSON.stringify(record(1)), 'not json', '{"instruction": "y"}', JSON.stringify(record(2))]
    await page.getByTestId('dataset-upload').setInputFiles({ name: 'bad lines.jsonl', mimeType: 'application/json', buffer: Buffer.from(`${bad.join('\n')}\n`) })
    await expect.poll(() => page.getByTestId('dataset-error').count(), slow).toBe(3)
    const listed = await page.getByTestId('dataset-error').allTextContents()
    expect(listed[0]).toMatch(/^line 2, field output: expected a string, got number/)
    expect(listed[1]).toMatch(/^line 4: invalid JSON/)
    expect(listed[2]).toMatch(/^line 5, field output: missing/)
    // The upload landed in the data folder, and the path field shows where.
    expect(await page.locator('#data-path').inputValue()).toBe(join(root, 'bad', 'datasets', 'bad_lines.jsonl'))
    expect(await page.getByTestId('stat-records').textContent()).toBe('3')
    const next = page.getByRole('button', { name: 'Next: method' })
    expect(await next.isDisabled()).toBe(true)
    await screenshot(page, 'tune-dataset-errors')
    await page.getByTestId('skip-bad-records').check()
    expect(await next.isDisabled()).toBe(false)
    expect(errors).toEqual([])
    await page.close()
  })

  it('resumes a run the server died in from the Runs page, with no gap in its curve', async () => {
    const dataDir = join(root, 'crash')
    const first = await start(dataDir)
    const { page } = await open(first.url)
    await chooseModel(page)
    await chooseData(page, data, 20)
    const steps = 400
    await configure(page, steps, 10)
    await page.getByRole('button', { name: 'Start fine-tuning' }).click()
    // Mid-run: past a few checkpoints, far from the end.
    await expect.poll(async () => Number((await page.getByTestId('run-steps').textContent())?.match(/Step (\d+)/)?.[1] ?? 0), { ...slow, interval: 50 }).toBeGreaterThan(25)
    first.process.kill('SIGKILL')
    await first.stop()
    await page.close()

    const second = await start(dataDir)
    const reopened = await open(second.url)
    const p = reopened.page
    await p.getByRole('link', { name: 'Runs' }).click()
    const row = p.getByTestId('run-row')
    await expect.poll(() => row.getByTestId('run-status').textContent(), slow).toBe('Paused')
    await row.getByRole('link').click()
    await p.getByTestId('run-detail').waitFor()
    await screenshot(p, 'runs-paused-after-crash')
    await p.getByRole('button', { name: 'Resume' }).click()
    await expect.poll(() => p.getByTestId('run-detail').getByTestId('run-status').textContent(), { timeout: 120_000 }).toBe('Completed')
    await expect.poll(() => series(p), slow).toMatchObject({ 'train 1': steps, 'train 2': steps, 'train 3': steps })
    await screenshot(p, 'runs-resumed-completed')

    // The data behind the chart: every step 1..N, once, for every exit.
    const store = openStore(join(dataDir, 'sorted.db'))
    const [run] = store.runs.list()
    const metrics = store.runs.metrics(run!.id)
    store.close()
    for (const exit of [1, 2, 3]) {
      const seen = metrics.filter((m) => m.split === 'train' && m.exit === exit).map((m) => m.step)
      expect(seen).toEqual(Array.from({ length: steps }, (_, i) => i + 1))
    }
    expect(run).toMatchObject({ status: 'completed', lastStep: steps })
    expect(reopened.errors).toEqual([])
    await p.close()
  }, 240_000)
})
