import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchChromium, screenshot, serve, type ServedApp } from './harness'

let browser: Browser
const dataRoot = mkdtempSync(join(tmpdir(), 'sorted-e2e-'))
const running: ServedApp[] = []

beforeAll(async () => {
  browser = await launchChromium()
})

afterAll(async () => {
  await browser?.close()
  await Promise.all(running.map((app) => app.stop()))
  rmSync(dataRoot, { recursive: true, force: true })
})

async function start(dataDir: string): Promise<ServedApp> {
  const app = await serve(dataDir)
  running.push(app)
  return app
}

/** A page that records console errors and uncaught exceptions (CSP violations show up here). */
async function open(url: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1200, height: 800 } })
  const errors: string[] = []
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text())
  })
  page.on('pageerror', (error) => errors.push(error.message))
  // The app opens on the chat; these flows are about the Settings page.
  await page.goto(`${url}#/settings`)
  return { page, errors }
}

describe('the app in browser mode', () => {
  it('loads the Settings page with working navigation and no errors', async () => {
    const dataDir = join(dataRoot, 'nav')
    const app = await start(dataDir)
    const { page, errors } = await open(app.url)
    await page.getByRole('heading', { name: 'Settings' }).waitFor()
    const nav = page.getByRole('navigation', { name: 'Main' })
    const links = await nav.getByRole('link').allTextContents()
    expect(links[0]).toBe('Chat')
    expect(links).toEqual(expect.arrayContaining(['Chat', 'Models', 'Compare', 'Fine-tune', 'Runs', 'Settings', 'About']))
    await expect.poll(() => page.getByTestId('data-dir').textContent()).toContain(dataDir)
    await screenshot(page, 'settings')

    await nav.getByRole('link', { name: 'About' }).click()
    await page.getByRole('heading', { name: 'About Sorted Studio' }).waitFor()
    expect(page.url()).toContain('#/about')
    await expect.poll(() => page.locator('main').textContent()).toContain(dataDir)
    await screenshot(page, 'about')

    await page.reload()
    await page.getByRole('heading', { name: 'About Sorted Studio' }).waitFor()
    expect(errors).toEqual([])
    await page.close()
  })

  it('keeps a setting saved in the UI across a server restart', async () => {
    const dataDir = join(dataRoot, 'restart')
    const first = await start(dataDir)
    const { page } = await open(first.url)
    await page.locator('#theme').selectOption('dark')
    await expect.poll(() => page.getByTestId('settings-status').textContent()).toBe('Saved')
    await page.locator('#execution-provider').selectOption('cpu')
    await expect.poll(() => page.getByTestId('settings-status').textContent()).toBe('Saved')
    expect(await page.locator('html').getAttribute('data-theme')).toBe('dark')
    await page.close()
    expect(await first.stop()).toBe(0)

    const second = await start(dataDir)
    expect(second.token).not.toBe(first.token)
    const reopened = await open(second.url)
    await expect.poll(() => reopened.page.locator('#theme').inputValue()).toBe('dark')
    expect(await reopened.page.locator('#execution-provider').inputValue()).toBe('cpu')
    expect(await reopened.page.locator('html').getAttribute('data-theme')).toBe('dark')
    await screenshot(reopened.page, 'settings-after-restart')
    await reopened.page.close()
  })

  it('shows a change made in one window in every other window', async () => {
    const app = await start(join(dataRoot, 'live'))
    const one = await open(app.url)
    const two = await open(app.url)
    await two.page.locator('#theme').waitFor()
    await one.page.locator('#theme').selectOption('light')
    await expect.poll(() => two.page.locator('#theme').inputValue()).toBe('light')
    await one.page.close()
    await two.page.close()
  })

  it('tells the user when the connection to the server is lost', async () => {
    const app = await start(join(dataRoot, 'lost'))
    const { page } = await open(app.url)
    await page.getByRole('heading', { name: 'Settings' }).waitFor()
    expect(await page.getByTestId('connection-banner').count()).toBe(0)
    await app.stop()
    await page.getByTestId('connection-banner').waitFor()
    await screenshot(page, 'connection-lost')
    await page.close()
  })

  it('keeps working across a reload once the token has left the address bar', async () => {
    const app = await start(join(dataRoot, 'reload'))
    const { page, errors } = await open(app.url)
    await page.getByRole('heading', { name: 'Settings' }).waitFor()
    // The token is in this tab's sessionStorage, not in the address or a cookie.
    expect(page.url()).toBe(`http://127.0.0.1:${app.port}/#/settings`)
    expect(await page.context().cookies()).toEqual([])
    await page.reload()
    await expect.poll(() => page.getByTestId('data-dir').textContent()).toContain(join(dataRoot, 'reload'))
    expect(errors).toEqual([])
    await page.close()
  })

  it('without the token, says how to get in and cannot reach the API', async () => {
    const app = await start(join(dataRoot, 'token'))
    const page = await browser.newPage()
    const response = await page.goto(`http://127.0.0.1:${app.port}/`)
    // The page holds no secret; what it can do is the API's business.
    expect(response?.status()).toBe(200)
    await expect.poll(() => page.getByTestId('missing-token').textContent()).toContain('?token=')
    const refused = await page.evaluate(
      (socketUrl) =>
        new Promise<string>((resolve) => {
          const ws = new WebSocket(socketUrl, ['sorted.v1', 'sorted.token.wrong'])
          ws.onopen = () => resolve('open')
          ws.onerror = () => resolve('refused')
        }),
      `ws://127.0.0.1:${app.port}/api/ws`,
    )
    expect(refused).toBe('refused')
    await page.close()
  })
})
