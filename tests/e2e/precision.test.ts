/**
 * A model's weight precision as a user chooses it, in Chromium through
 * browser mode: the bundled model says it is a small demo, the Models page
 * offers fp32/int8/int4 with their memory and measured speed, the chat shows
 * the precision the model runs in, and a reload keeps the choice.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchChromium, screenshot, serve, type ServedApp } from './harness'

const root = mkdtempSync(join(tmpdir(), 'sorted-precision-'))
let browser: Browser
let app: ServedApp
let page: Page
const errors: string[] = []

beforeAll(async () => {
  browser = await launchChromium()
  app = await serve(join(root, 'data'))
  page = await browser.newPage({ viewport: { width: 1280, height: 860 } })
  page.on('pageerror', (error) => errors.push(error.message))
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text())
  })
})

afterAll(async () => {
  await browser?.close()
  await app?.stop()
  rmSync(root, { recursive: true, force: true })
})

const nav = (name: string) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true })
const bundledCard = () => page.getByTestId('model-dictionary-soft')

describe('a model\'s precision in browser mode', () => {
  it('the chat\'s empty state says the bundled model is a 7M-parameter demo and leads to the Models page', async () => {
    await page.goto(app.url)
    await expect.poll(() => page.getByTestId('model-picker').locator('option:checked').textContent(), { timeout: 30_000 }).toContain('dictionary-soft')
    const note = page.getByTestId('chat-log').getByTestId('demo-note')
    await note.waitFor({ timeout: 30_000 })
    expect(await note.textContent()).toContain('7M-parameter demo')
    await expect.poll(() => page.getByTestId('precision').textContent(), { timeout: 120_000 }).toBe('fp32')
    await note.getByRole('link', { name: /Import a real model/ }).click()
    await bundledCard().waitFor()
    expect(await bundledCard().getByTestId('demo-note').textContent()).toContain('7M-parameter demo')
  })

  it('the Models page offers each precision with its memory and measured speed, and shows its quality-vs-speed curve', async () => {
    const picker = bundledCard().getByTestId('precision-dictionary-soft')
    const options = await picker.locator('option').allTextContents()
    expect(options.map((o) => o.trim().split(' ')[0])).toEqual(['fp32', 'int8', 'int4'])
    expect(options[1]).toMatch(/int8 · [\d.]+ MB weights · ≈2\.5× fp32 decode speed \(decode bench\)/)
    expect(await bundledCard().getByTestId('memory').textContent()).toMatch(/MB of weights in fp32/)
    await bundledCard().getByTestId('model-curve').waitFor()
  })

  it('picking int8 makes the chat run in int8, and a reload keeps it', async () => {
    await bundledCard().getByTestId('precision-dictionary-soft').selectOption('int8')
    await expect.poll(() => bundledCard().getByTestId('memory').textContent()).toMatch(/in int8/)
    await screenshot(page, 'models-precision')

    await nav('Chat').click()
    await expect.poll(() => page.getByTestId('precision').textContent(), { timeout: 120_000 }).toBe('int8')
    await page.getByTestId('composer').fill('Define the word river.')
    await page.getByTestId('composer').press('Enter')
    await page.getByTestId('message-assistant').first().waitFor({ timeout: 120_000 })
    await screenshot(page, 'chat-int8')

    await page.reload()
    await expect.poll(() => page.getByTestId('precision').textContent(), { timeout: 120_000 }).toBe('int8')
    await nav('Models').click()
    expect(await bundledCard().getByTestId('precision-dictionary-soft').inputValue()).toBe('int8')
    expect(errors).toEqual([])
  })
})
