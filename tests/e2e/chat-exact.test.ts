/**
 * The budget slider's Exact stop, in Chromium through browser mode on the
 * bundled model: Exact gives the full model's answer word for word, marks
 * the drafts the full model accepted, and shows the acceptance rate and the
 * speed-up over full depth. Reached with the keyboard, as the slider's other stops are.
 * The Auto stop answers with the τ saved in chat settings.
 */
import { describe, expect, it } from 'vitest'
import { screenshot, servedPage } from './harness'

const served = servedPage('sorted-chat-exact-')
const errors = served.errors

const assistantReplies = () => served.page.getByTestId('message-assistant')
const replyText = async () => (await assistantReplies().last().locator('.runs').textContent()) ?? ''

describe('the Exact stop in chat', () => {
  it('answers exactly as the full model does, and shows its acceptance and speed-up', async () => {
    await served.page.goto(served.app.url)
    await expect.poll(() => served.page.getByTestId('model-picker').locator('option:checked').textContent(), { timeout: 30_000 }).toContain('dictionary-soft')
    const slider = served.page.getByTestId('budget-slider')
    // Once the engine has the model: its 8 exits, then Exact and Auto.
    await expect.poll(() => slider.getAttribute('max'), { timeout: 60_000 }).toBe('9')
    expect(await served.page.getByTestId('budget-caption').textContent()).toContain('8 of 8 layers')

    // The full model's answer (temperature 0 is the chat's default).
    await served.page.getByTestId('composer').fill('Define the word river.')
    await served.page.getByTestId('composer').press('Enter')
    await assistantReplies().first().waitFor({ timeout: 60_000 })
    const full = await replyText()
    expect(full.trim().length).toBeGreaterThan(0)
    expect(await assistantReplies().last().getByTestId('acceptance').count()).toBe(0)

    // End is Auto, one step back is Exact.
    await slider.focus()
    await slider.press('End')
    await expect.poll(() => served.page.getByTestId('budget-caption').textContent()).toContain('Auto')
    await slider.press('ArrowLeft')
    await expect.poll(() => served.page.getByTestId('budget-caption').textContent()).toContain('Exact')
    expect(await slider.getAttribute('aria-valuetext')).toContain('Exact')

    // The same question again, at the Exact stop.
    await assistantReplies().last().getByTestId('regenerate').click()
    const exact = assistantReplies().last().getByTestId('reply-mode')
    await exact.waitFor({ timeout: 60_000 })
    expect(await exact.textContent()).toBe('Exact')
    expect(await replyText()).toBe(full)

    const acceptance = (await assistantReplies().last().getByTestId('acceptance').textContent()) ?? ''
    const [, percent, accepted, drafted] = /acceptance (\d+)% \((\d+)\/(\d+) drafts\)/.exec(acceptance) ?? []
    expect(Number(drafted)).toBeGreaterThan(0)
    expect(Math.round((100 * Number(accepted)) / Number(drafted))).toBe(Number(percent))
    // Every accepted draft is marked in the text, and every token came from the full depth.
    const draftedSpans = assistantReplies().last().locator('[data-drafted="true"]')
    expect((await draftedSpans.count()) > 0).toBe(Number(accepted) > 0)
    const exits = await assistantReplies().last().locator('[data-exit]').evaluateAll((spans) => spans.map((s) => s.getAttribute('data-exit')))
    expect(new Set(exits)).toEqual(new Set(['8']))
    // The bundled model's sorted.json measures full depth, so the speed-up is a figure.
    expect(await assistantReplies().last().getByTestId('speedup').textContent()).toMatch(/^\d+\.\d\d× full depth$/)
    await screenshot(served.page, 'chat-exact')

    // The choice is the chat's: it is still on Exact after a reload.
    await served.page.reload()
    await expect.poll(() => served.page.getByTestId('budget-caption').textContent(), { timeout: 60_000 }).toContain('Exact')
    expect(errors).toEqual([])
  })

  it('the Auto stop answers with the τ from chat settings: τ 0 takes every token from the first exit', async () => {
    await served.page.getByRole('button', { name: 'Chat settings' }).click()
    await served.page.getByTestId('auto-tau').fill('0')
    await served.page.getByRole('button', { name: 'Save' }).click()
    await expect.poll(() => served.page.getByRole('form', { name: 'Chat settings' }).count(), { timeout: 30_000 }).toBe(0)
    const slider = served.page.getByTestId('budget-slider')
    await slider.focus()
    await slider.press('End')
    await expect.poll(() => served.page.getByTestId('budget-caption').textContent()).toContain('Auto')
    await assistantReplies().last().getByTestId('regenerate').click()
    // Until the new reply replaces it, the last reply is still the Exact one: wait for the Auto reply itself.
    const mode = assistantReplies().last().getByTestId('reply-mode')
    await expect.poll(() => mode.textContent(), { timeout: 60_000 }).toBe('Auto')
    await expect.poll(() => assistantReplies().last().getByTestId('regenerate').isEnabled(), { timeout: 60_000 }).toBe(true)
    const exits = await assistantReplies().last().locator('[data-exit]').evaluateAll((spans) => spans.map((s) => s.getAttribute('data-exit')))
    expect(new Set(exits)).toEqual(new Set(['1']))
    expect(await assistantReplies().last().getByTestId('acceptance').count()).toBe(0)
    expect(errors).toEqual([])
  })
})
