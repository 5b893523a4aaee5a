/**
 * An adapter run through the wizard in Chromium, on the bundled model: the
 * method step's planner figures follow the choice (Full vs LoRA), a few LoRA
 * steps train, the result page chats with the adapter (the chat says it runs
 * with it) and merges it into a new library model.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { screenshot, servedPage } from './harness'

const served = servedPage('sorted-tune-adapter-')
const root = mkdtempSync(join(tmpdir(), 'sorted-tune-adapter-files-'))
const data = join(root, 'words.jsonl')
const words = ['river', 'stone', 'cloud', 'field', 'light', 'water']
writeFileSync(data, `${Array.from({ length: 12 }, (_, i) => JSON.stringify({ instruction: `Define the word ${words[i % words.length]}.`, output: `a ${words[(i + 1) % words.length]}` })).join('\n')}\n`)
afterAll(() => rmSync(root, { recursive: true, force: true }))

/** "… 7.2M trained parameters …" as a number. */
function trained(line: string | null): number {
  const [, figure, unit] = line?.match(/([\d.]+)([kMB]?) trained parameters/) ?? []
  if (figure === undefined) return Number.NaN
  return Number(figure) * ({ k: 1e3, M: 1e6, B: 1e9 }[unit as 'k'] ?? 1)
}

// Hang guards, not speed checks: the machine is shared and busy.
const slow = { timeout: 180_000 }

/** The wizard on the bundled model and the words set, at the method step: 3 steps of batch 2, a fifth held out for validation. */
async function toMethodStep(page: (typeof served)['page']): Promise<void> {
  await page.goto(served.app.url)
  await page.getByRole('link', { name: 'Fine-tune' }).click()
  const bundled = await page.locator('#library-model option', { hasText: 'dictionary-soft' }).getAttribute('value', slow)
  await page.locator('#library-model').selectOption(bundled!)
  await expect.poll(() => page.getByTestId('model-layers').textContent(), slow).toBe('8')
  await page.getByRole('button', { name: 'Next: dataset' }).click()
  await page.locator('#seq-len').fill('48')
  await page.locator('#data-path').fill(data)
  await page.locator('#data-path').press('Enter')
  await expect.poll(() => page.getByTestId('stat-records').textContent(), slow).toBe('12')
  await page.getByRole('button', { name: 'Next: method' }).click()

  await page.getByRole('radio', { name: 'Steps', exact: true }).check()
  await page.getByRole('spinbutton', { name: 'Steps', exact: true }).fill('3')
  await page.getByLabel('Batch size').fill('2')
  await page.getByLabel('Validation share').fill('0.2')
  await page.getByLabel('Checkpoint every').fill('0')
  await expect.poll(() => page.getByTestId('estimate').textContent(), slow).toContain('for 3 steps')
}

describe('an adapter run in the app', () => {
  it('trains a LoRA adapter through the wizard, chats with it, and merges it into the library', { timeout: 600_000 }, async () => {
    const { page, errors } = served
    await toMethodStep(page)
    // The planner's figures sit beside the method and follow it.
    await expect.poll(() => page.getByTestId('method-estimate').textContent(), slow).toContain('Full: about')
    const full = await page.getByTestId('method-estimate').textContent()
    await page.getByTestId('method-lora').check()
    await page.locator('#lora-rank').fill('4')
    for (const target of ['k', 'o', 'gate', 'up', 'down']) await page.getByTestId(`lora-target-${target}`).uncheck()
    await expect.poll(() => page.getByTestId('method-estimate').textContent(), slow).toContain('LoRA: about')
    const lora = await page.getByTestId('method-estimate').textContent()
    // The adapter trains a small fraction of what full tuning trains.
    expect(trained(lora)).toBeLessThan(trained(full) / 10)
    await screenshot(page, 'tune-adapter-method')

    await page.getByRole('button', { name: 'Start fine-tuning' }).click()
    await page.getByRole('heading', { name: 'Result' }).waitFor(slow)
    await expect.poll(() => page.getByTestId('adapter-result').textContent(), slow).toContain('LoRA adapter (r 4, alpha 32, q_proj, v_proj)')
    const adapterPath = (await page.getByTestId('copyable-path').textContent())!
    expect(existsSync(join(adapterPath, 'adapter_config.json'))).toBe(true)
    await screenshot(page, 'tune-adapter-result')

    // Merge and export: a plain Hugging Face folder, added to the library.
    const mergedDir = join(root, 'merged')
    await page.locator('#merge-to').fill(mergedDir)
    await page.getByTestId('merge-adapter').click()
    await expect.poll(() => page.getByTestId('merged').textContent(), slow).toContain(mergedDir)
    expect(existsSync(join(mergedDir, 'model.safetensors'))).toBe(true)

    // Chat with the adapter: the engine runs the base with it merged in, and the chat says so.
    await page.getByTestId('chat-with-adapter').click()
    await expect.poll(() => page.getByTestId('running-adapter').textContent(), slow).toContain('with adapter')
    expect(await page.getByTestId('running-adapter').textContent()).toContain('LoRA r 4')
    await page.getByTestId('composer').fill('Define the word river.')
    await page.getByTestId('composer').press('Enter')
    await page.getByTestId('message-assistant').first().waitFor(slow)
    await screenshot(page, 'chat-adapter')

    // The library lists the adapter under its base, and the merged model on its own.
    await page.getByRole('link', { name: 'Models', exact: true }).click()
    const base = page.getByTestId('model-dictionary-soft')
    await base.getByTestId(/^adapter-/).first().waitFor(slow)
    expect(await base.getByTestId(/^adapter-/).count()).toBe(1)
    await page.getByTestId('model-merged').waitFor(slow)
    await screenshot(page, 'library-adapters')
    expect(errors).toEqual([])
  })

  it('trains a DyLoRA adapter, shows its loss per rank and exit as a heat map, and chats with it at a chosen rank', { timeout: 600_000 }, async () => {
    const { page, errors } = served
    await toMethodStep(page)
    await page.getByTestId('method-dylora').check()
    await page.locator('#lora-rank').fill('4')
    for (const target of ['k', 'o', 'gate', 'up', 'down']) await page.getByTestId(`lora-target-${target}`).uncheck()
    await page.getByRole('button', { name: 'Start fine-tuning' }).click()
    await page.getByRole('heading', { name: 'Result' }).waitFor(slow)
    await expect.poll(() => page.getByTestId('adapter-result').textContent(), slow).toContain('DyLoRA adapter (r 4')

    // The heat map: ranks 1, 2, 4 in rows, the trained exits in columns, every cell its loss as text and title.
    const map = page.getByTestId('rank-heat-map')
    await map.waitFor(slow)
    expect(await map.locator('tbody th').allTextContents()).toEqual(['1', '2', '4'])
    const exits = (await map.locator('thead th').allTextContents()).slice(1)
    expect(exits.length).toBeGreaterThan(0)
    const cells = map.locator('td')
    expect(await cells.count()).toBe(3 * exits.length)
    for (const text of await cells.allTextContents()) expect(text.trim()).toMatch(/^\d+\.\d{4}$/)
    const first = cells.first()
    expect(await first.getAttribute('title')).toBe(`rank 1, exit ${exits[0]}: validation loss ${(await first.textContent())!.trim()}`)
    expect(await map.locator('caption').textContent()).toMatch(/Darker is lower: lowest \d+\.\d{4} at rank \d, exit \d+; highest/)
    await screenshot(page, 'tune-dylora-heat-map')

    // Chat at rank 2: the engine reloads the base with the adapter merged at rank 2, and the chat says so.
    await page.getByTestId('chat-with-adapter').click()
    await expect.poll(() => page.getByTestId('running-adapter').textContent(), slow).toContain('DyLoRA rank 4 of r 4')
    expect(await page.getByTestId('adapter-rank').locator('option').allTextContents()).toHaveLength(3)
    await page.getByTestId('adapter-rank').selectOption('2')
    await expect.poll(() => page.getByTestId('running-adapter').textContent(), slow).toContain('DyLoRA rank 2 of r 4')
    await page.getByTestId('composer').fill('Define the word stone.')
    await page.getByTestId('composer').press('Enter')
    await page.getByTestId('message-assistant').first().waitFor(slow)
    await screenshot(page, 'chat-dylora-rank')
    expect(errors).toEqual([])
  })
})
