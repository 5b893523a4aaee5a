/**
 * A model's weight precision as a user chooses it, in Chromium through
 * browser mode: the bundled model says it is a small demo, the Models page
 * offers fp32/int8/int4 with their memory and measured speed, the chat shows
 * the precision the model runs in, a reload keeps the choice, and Settings
 * counts and clears the compiled models.
 */
import { describe, expect, it } from 'vitest'
import { screenshot, servedPage } from './harness'

const served = servedPage('sorted-precision-')
const errors = served.errors

const nav = (name: string) => served.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true })
const bundledCard = () => served.page.getByTestId('model-dictionary-soft')

describe('a model\'s precision in browser mode', () => {
  it('the chat\'s empty state says the bundled model is a 7M-parameter demo and leads to the Models page', async () => {
    await served.page.goto(served.app.url)
    await expect.poll(() => served.page.getByTestId('model-picker').locator('option:checked').textContent(), { timeout: 30_000 }).toContain('dictionary-soft')
    const note = served.page.getByTestId('chat-log').getByTestId('demo-note')
    await note.waitFor({ timeout: 30_000 })
    expect(await note.textContent()).toContain('7M-parameter demo')
    await expect.poll(() => served.page.getByTestId('precision').textContent(), { timeout: 120_000 }).toBe('fp32')
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
    await screenshot(served.page, 'models-precision')

    await nav('Chat').click()
    await expect.poll(() => served.page.getByTestId('precision').textContent(), { timeout: 120_000 }).toBe('int8')
    await served.page.getByTestId('composer').fill('Define the word river.')
    await served.page.getByTestId('composer').press('Enter')
    await served.page.getByTestId('message-assistant').first().waitFor({ timeout: 120_000 })
    await screenshot(served.page, 'chat-int8')

    await served.page.reload()
    await expect.poll(() => served.page.getByTestId('precision').textContent(), { timeout: 120_000 }).toBe('int8')
    await nav('Models').click()
    expect(await bundledCard().getByTestId('precision-dictionary-soft').inputValue()).toBe('int8')
    expect(errors).toEqual([])
  })

  it('Settings counts the compiled models, one per precision loaded, and Clear removes them while the chat goes on', async () => {
    await nav('Settings').click()
    const cache = served.page.getByTestId('graph-cache')
    // The bundled model compiled in fp32, then in int8.
    await expect.poll(() => cache.textContent(), { timeout: 30_000 }).toMatch(/^2 \(\d+(\.\d)? MB\)/)
    await cache.getByRole('button', { name: 'Clear' }).click()
    await expect.poll(() => cache.textContent()).toMatch(/^0 \(0\.0 MB\)/)
    expect(await cache.getByRole('button', { name: 'Clear' }).isDisabled()).toBe(true)
    // The loaded model still answers.
    await nav('Chat').click()
    const replies = served.page.getByTestId('message-assistant')
    const before = await replies.count()
    await served.page.getByTestId('composer').fill('Define the word stone.')
    await served.page.getByTestId('composer').press('Enter')
    await expect.poll(() => replies.count(), { timeout: 120_000 }).toBe(before + 1)
    expect(errors).toEqual([])
  })
})
