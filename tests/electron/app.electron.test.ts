/**
 * The desktop window itself, through Playwright's Electron support. Runs with
 * `npm run test:electron` where the Electron binary is installed (npm drops
 * the optional package where its download fails, so it is not part of
 * `npm test`): the built main process opens on the chat with the bundled
 * model, answers stream over IPC, and the budget moves mid-answer.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { _electron, type ElectronApplication, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { repoRoot, screenshot } from '../e2e/harness'

const home = mkdtempSync(join(tmpdir(), 'sorted-electron-'))
let app: ElectronApplication
let window: Page

beforeAll(async () => {
  // The electron package exports the path of its binary.
  const executablePath = createRequire(import.meta.url)('electron') as string
  app = await _electron.launch({ executablePath, args: [join(repoRoot, 'out', 'main', 'index.js')], env: { ...process.env, SORTED_STUDIO_HOME: home } })
  window = await app.firstWindow()
})

afterAll(async () => {
  await app?.close()
  rmSync(home, { recursive: true, force: true })
})

describe('the desktop window', () => {
  it('reports the electron transport and isolates the renderer', async () => {
    expect(await window.evaluate(() => typeof (window as unknown as { require?: unknown }).require)).toBe('undefined')
    expect(await window.evaluate(() => Object.keys((window as unknown as { sorted: object }).sorted).sort())).toEqual(['invoke', 'onEvent'])
  })

  it('chats with the bundled model and moves the budget mid-answer', async () => {
    await expect.poll(() => window.getByTestId('model-picker').locator('option:checked').textContent(), { timeout: 60_000 }).toContain('dictionary-soft')
    await window.getByTestId('composer').fill('Define the word river.')
    await window.getByTestId('composer').press('Enter')
    await window.getByTestId('streaming-reply').locator('[data-exit]').first().waitFor({ timeout: 120_000 })
    const slider = window.getByTestId('budget-slider')
    await slider.focus()
    await slider.press('Home')
    await window.getByTestId('message-assistant').first().waitFor({ timeout: 120_000 })
    expect(await window.getByTestId('exit-stats').first().textContent()).toMatch(/\d+L × \d+/)
    await screenshot(window, 'electron-chat')
  })
})
