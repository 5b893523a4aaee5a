/**
 * Peak RSS of `sorted generate --weights P` loading a model folder (the
 * built CLI, `npm run build` first), against the runtime weight bytes of
 * that precision (memory-estimate.ts): the aim is peak ≤ 1.3× for int4.
 *
 * Writes a random model folder in the decode bench's shape (F16 on disk;
 * LOAD_RSS_SHAPE=llama1b for Llama-3.2-1B's shape, untied, about 2.5 GB on
 * disk), then runs the CLI (16 new tokens) three times per precision, each
 * in a child whose peak is read from /proc/<pid>/status (VmHWM): without a
 * graph cache, then with `--cache-dir` twice (the first run compiles and
 * keeps the graphs, the second loads them), with the load time, time to the
 * first token and decode speed the CLI reports. A watchdog kills a child above
 * LOAD_RSS_LIMIT_MB (default 8000) so it cannot exhaust a shared machine.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { weightBytes } from '../../src-main/engine/generate/memory-estimate'
import { exportModel } from '../../src-main/engine/model/export'
import type { WeightPrecision } from '../../src-main/engine/model/weight-format'
import { runWatchedCli } from './watched-cli'
import { benchConfig, benchWeights, randomFiller } from './shapes'

const shapes = {
  decode: { layers: 16, d: 1024, heads: 16, kvHeads: 4, ffn: 2816, vocab: 32000 },
  llama1b: { layers: 16, d: 2048, heads: 32, kvHeads: 8, ffn: 8192, vocab: 128256 },
}
const shapeName = (process.env.LOAD_RSS_SHAPE ?? 'decode') as keyof typeof shapes
const limitMb = Number(process.env.LOAD_RSS_LIMIT_MB ?? 8000)
const precisions = (process.env.LOAD_RSS_WEIGHTS ?? 'int4,fp32').split(',') as WeightPrecision[]
const newTokens = 16

const config = benchConfig(shapes[shapeName])
const dir = mkdtempSync(join(tmpdir(), 'sorted-load-rss-'))
try {
  // The folder is written from this process, which is then idle while the children run.
  exportModel({ config, weights: benchWeights(config, randomFiller(12345)) }, join(dir, 'model'), { dtype: 'F16' })
  const results: Record<string, unknown> = {}
  for (const precision of precisions) {
    const weightsMb = Math.round(weightBytes(config, precision, 32) / 2 ** 20)
    const cacheDir = join(dir, `cache-${precision}`)
    // Without a cache, then twice with one: the first compiles (and quantizes) and keeps the graphs, the second reads them.
    const runs: Record<string, unknown> = {}
    for (const [name, extra] of [['uncached', []], ['cache_first', ['--cache-dir', cacheDir]], ['cache_second', ['--cache-dir', cacheDir]]] as const) {
      const run = await runWatchedCli(['generate', '--model', join(dir, 'model'), '--prompt-ids', '1,2,3', '--max-new-tokens', String(newTokens), '--weights', precision, '--json', ...extra], limitMb)
      const out = run.code === 0 ? (JSON.parse(run.stdout) as { load_ms: number; prefill_ms: number; decode_tokens_per_s: number }) : undefined
      runs[name] = {
        peak_rss_mb: run.peakMb,
        peak_over_weights: Number((run.peakMb / weightsMb).toFixed(2)),
        wall_ms: run.wallMs,
        ...(out ? { load_ms: Math.round(out.load_ms), first_token_ms: Math.round(out.load_ms + out.prefill_ms), decode_tokens_per_s: out.decode_tokens_per_s } : {}),
        exit_code: run.code,
        killed_by_watchdog: run.killed,
        ...(run.code ? { stderr: run.stderr.trim().split('\n').slice(-2).join(' | ') } : {}),
      }
    }
    results[precision] = { runtime_weights_mb: weightsMb, ...runs }
  }
  process.stdout.write(`${JSON.stringify({ bench: 'load-rss', shape: shapeName, limit_mb: limitMb, results })}\n`)
} finally {
  rmSync(dir, { recursive: true, force: true })
}
