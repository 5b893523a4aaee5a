/**
 * Models → "Calibrate Exact" in the served app: an imported copy of the
 * bundled model is measured in a worker with progress shown, the chosen exit
 * is shown and written into the copy's sorted.json; the bundled model itself
 * offers no calibration (its folder ships with the app).
 */
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { repoRoot, screenshot, servedPage } from './harness'

const root = mkdtempSync(join(tmpdir(), 'sorted-calibrate-app-'))
const copy = join(root, 'dictionary-copy')
cpSync(join(repoRoot, 'resources', 'models', 'dictionary-soft'), copy, { recursive: true })
afterAll(() => rmSync(root, { recursive: true, force: true }))
const served = servedPage('sorted-calibrate-app-data-')

describe('Calibrate Exact in the app', () => {
  it('measures an imported model, shows the exit it chose, and writes it into sorted.json', async () => {
    const { page, app, errors } = served
    await page.goto(app.url)
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Models', exact: true }).click()
    await page.getByTestId('import-path').fill(copy)
    await page.getByTestId('import-button').click()
    const card = page.getByTestId('model-dictionary-copy')
    await card.waitFor({ timeout: 60_000 })
    expect(await page.getByTestId('calibrate-dictionary-soft').count()).toBe(0)

    await page.getByTestId('calibrate-dictionary-copy').click()
    const status = page.getByTestId('calibration-dictionary-copy')
    await status.getByText(/^Exact mode now drafts at exit \d/).waitFor({ timeout: 180_000 })
    const shown = Number(/exit (\d+)/.exec((await status.textContent()) ?? '')?.[1])
    const sorted = JSON.parse(readFileSync(join(copy, 'sorted.json'), 'utf8'))
    expect(sorted.draft_exit).toBe(shown)
    expect(sorted.exits).toContain(shown)
    expect(shown).toBeLessThan(8)
    await screenshot(page, 'models-calibrated')
    expect(errors).toEqual([])
  })
})
