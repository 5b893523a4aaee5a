/**
 * The chat as a user meets it, in Chromium through browser mode: the app opens
 * on the bundled model, answers stream, the budget slider moves the exit mid-
 * answer, conversations survive a reload, and models are imported (or refused
 * with the reason) from the Models page.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { writeTinyTextModel } from '../fixtures/fixtures'
import { launchChromium, screenshot, serve, type ServedApp } from './harness'

const root = mkdtempSync(join(tmpdir(), 'sorted-chat-'))
const tinyModel = join(root, 'tiny-chat')
let browser: Browser
let app: ServedApp
let page: Page
const errors: string[] = []

beforeAll(async () => {
  // A 4-layer model whose greedy answer at exit 4 runs for thousands of tokens (and
  // keeps running after a switch to exit 1), so the slider moves mid-answer even on
  // a loaded machine: the answer lasts seconds, not the 0.2 s a 256-token context allowed.
  writeTinyTextModel(tinyModel, { seed: 11, layers: 4, hidden: 32, intermediate: 48, config: { max_position_embeddings: 8192 } })
  writeFileSync(join(tinyModel, 'sorted.json'), JSON.stringify({ exits: [1, 2, 3, 4] }))
  browser = await launchChromium()
  app = await serve(join(root, 'data'))
  page = await browser.newPage({ viewport: { width: 1280, height: 860 } })
  page.on('pageerror', (error) => errors.push(error.message))
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text())
  })
  page.on('dialog', (dialog) => void dialog.accept())
})

afterAll(async () => {
  await browser?.close()
  await app?.stop()
  rmSync(root, { recursive: true, force: true })
})

const assistantReplies = () => page.getByTestId('message-assistant')

describe('chat in browser mode', () => {
  it('opens on the bundled model and streams an answer', async () => {
    await page.goto(app.url)
    await expect.poll(() => page.getByTestId('model-picker').locator('option:checked').textContent(), { timeout: 30_000 }).toContain('dictionary-soft')
    await page.getByTestId('composer').fill('Define the word river.')
    await page.getByTestId('composer').press('Enter')
    await page.getByTestId('message-user').filter({ hasText: 'Define the word river.' }).waitFor()
    await assistantReplies().first().waitFor({ timeout: 60_000 })
    expect((await assistantReplies().first().locator('.runs').textContent())?.trim().length).toBeGreaterThan(0)
    expect(await page.getByTestId('exit-stats').first().textContent()).toMatch(/\d+L × \d+/)
    await screenshot(page, 'chat-answer')
  })

  it('finds the conversation and its messages again after a reload', async () => {
    await page.reload()
    await page.getByTestId('chat-list').getByRole('button', { name: 'Define the word river.', exact: true }).waitFor()
    await page.getByTestId('message-user').filter({ hasText: 'Define the word river.' }).waitFor()
    expect(await assistantReplies().count()).toBe(1)
  })

  it('imports a model folder with progress and chats with it', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Models', exact: true }).click()
    await page.getByTestId('import-path').fill(tinyModel)
    await page.getByTestId('import-button').click()
    await page.getByTestId('model-tiny-chat').waitFor({ timeout: 60_000 })
    expect(await page.getByTestId('import-status').textContent()).toContain('Imported tiny-chat')
    await screenshot(page, 'models-imported')
    await page.getByTestId('model-tiny-chat').getByRole('button', { name: 'Chat', exact: true }).click()
    await expect.poll(() => page.getByTestId('model-picker').locator('option:checked').textContent()).toContain('tiny-chat')
  })

  it('moves the budget mid-answer: later tokens are marked with the new exit', async () => {
    await page.getByRole('button', { name: 'Chat settings' }).click()
    await page.getByLabel('Max new tokens').fill('8000')
    await page.getByRole('button', { name: 'Save' }).click()
    await page.getByTestId('composer').fill('Tell me a long story')
    await page.getByTestId('send').click()
    const streaming = page.getByTestId('streaming-reply')
    await streaming.locator('[data-exit="4"]').waitFor({ timeout: 60_000 })
    const slider = page.getByTestId('budget-slider')
    await slider.focus()
    await slider.press('Home')
    await streaming.locator('[data-exit="1"]').waitFor({ timeout: 30_000 })
    expect(await page.getByTestId('live-tps').textContent()).toMatch(/tok\/s/)
    await screenshot(page, 'chat-slider-moved')
    // Stop the answer if it is still running (exit 1 may reach an end-of-text token first).
    await page.getByTestId('stop').click({ timeout: 1000 }).catch(() => {})
    const reply = assistantReplies().last()
    await reply.waitFor({ timeout: 60_000 })
    const exits = await reply.locator('[data-exit]').evaluateAll((spans) => spans.map((s) => Number(s.getAttribute('data-exit'))))
    expect(exits[0]).toBe(4)
    expect(exits.at(-1)).toBe(1)
    expect(await reply.getByTestId('exit-stats').textContent()).toMatch(/4L × \d+ · 1L × \d+/)
    expect(await page.getByTestId('budget-caption').textContent()).toContain('1 of 4 layers')
  })

  it('shows why a bad folder cannot be imported, and keeps running', async () => {
    const bad = join(root, 'not-a-model')
    mkdirSync(bad)
    writeFileSync(join(bad, 'config.json'), '{ "model_type": "llama", ')
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Models', exact: true }).click()
    await page.getByTestId('import-path').fill(bad)
    await page.getByTestId('import-button').click()
    const error = page.getByTestId('import-error')
    await error.waitFor({ timeout: 60_000 })
    expect(await error.textContent()).toContain('config.json')
    expect(await page.getByTestId('model-not-a-model').count()).toBe(0)
    await screenshot(page, 'models-bad-folder')
    expect(errors).toEqual([])
  })
})
