/**
 * End-to-end harness: the real built CLI in browser mode, driven by Debian's
 * Chromium through playwright-core. Run `npm run build` first (npm test does).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import { afterAll, beforeAll } from 'vitest'

export const repoRoot = new URL('../..', import.meta.url).pathname
export const artifactsDir = join(repoRoot, 'test-artifacts', 'e2e')
const cliPath = join(repoRoot, 'bin', 'sorted.mjs')
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

export interface ServedApp {
  url: string
  port: number
  token: string
  process: ChildProcess
  /** Everything the server wrote to stdout and stderr so far. */
  output(): string
  /** SIGTERM and wait; resolves to the exit code. */
  stop(): Promise<number | null>
}

export const listeningLine = /^Sorted Studio listening on (http:\/\/127\.0\.0\.1:(\d+)\/\?token=([A-Za-z0-9_-]+))$/

export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn(process.execPath, [cliPath, ...args], { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
}

export interface Finished {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs `sorted ARGS` to the end, collecting its output. */
export function finish(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Finished> {
  const child = runCli(args, env)
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (c) => (stdout += c))
  child.stderr?.on('data', (c) => (stderr += c))
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })))
}

export function serve(dataDir: string, extraArgs: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<ServedApp> {
  const child = runCli(['serve', '--port', '0', '--data-dir', dataDir, ...extraArgs], env)
  let stdout = ''
  let stderr = ''
  child.stderr?.on('data', (chunk) => (stderr += chunk))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sorted serve printed no URL in 30 s.\n${stdout}\n${stderr}`)), 30_000)
    child.once('exit', (code) => reject(new Error(`sorted serve exited with ${code}.\n${stdout}\n${stderr}`)))
    child.stdout?.on('data', (chunk) => {
      stdout += chunk
      const match = stdout.split('\n')[0]?.match(listeningLine)
      if (!match || !stdout.includes('\n')) return
      clearTimeout(timer)
      resolve({
        url: match[1]!,
        port: Number(match[2]),
        token: match[3]!,
        process: child,
        output: () => stdout + stderr,
        stop: () => {
          if (child.exitCode === null) child.kill('SIGTERM')
          return exited
        },
      })
    })
  })
}

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(chromiumPath)) throw new Error(`No Chromium at ${chromiumPath}: install Debian's package (apt-get install -y chromium).`)
  return chromium.launch({
    executablePath: chromiumPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  })
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(artifactsDir, { recursive: true })
  await page.screenshot({ path: join(artifactsDir, `${name}.png`), fullPage: true })
}

/**
 * A test file's app and page: `sorted serve` on a fresh data folder and one
 * Chromium page whose errors (uncaught, console) are collected, started
 * before the file's tests and stopped after them.
 */
export function servedPage(prefix: string): { readonly app: ServedApp; readonly page: Page; readonly errors: string[] } {
  const root = mkdtempSync(join(tmpdir(), prefix))
  let browser: Browser | undefined
  let app: ServedApp | undefined
  let page: Page | undefined
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
  return {
    get app() {
      return app!
    },
    get page() {
      return page!
    },
    errors,
  }
}
