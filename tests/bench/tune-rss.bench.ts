/**
 * Peak RSS of `sorted tune --adapter lora` against `--adapter qlora` (the
 * built CLI, `npm run build` first) on a random model folder, three training
 * steps on pre-tokenized records, beside the memory planner's prediction for
 * the same command (`--dry-run --json`).
 *
 * TUNE_RSS_SHAPE=bench (default): the train bench's 16-layer d1024 shape
 * (vocab 32k, untied), SoFT exits 4/8/12/16, batch 4 × 256.
 * TUNE_RSS_SHAPE=llama1b: Llama-3.2-1B's shape (16 layers, d 2048, 32/8
 * heads, ffn 8192, vocab 128256, tied), SoFT exits 4/8/12/16, batch 1 × 512;
 * about 2.5 GB on disk, written by a child process that exits before the
 * runs (it holds the fp32 model, 5 GB, while writing).
 *
 * TUNE_RSS_SEQ=256,512 runs those sequence lengths; TUNE_RSS_ADAPTERS=lora,qlora chooses the runs. Each is a child whose peak
 * is read from /proc/<pid>/status (VmHWM); a watchdog kills a child above
 * TUNE_RSS_LIMIT_MB (default 8000) so it cannot exhaust a shared machine, and
 * a run whose plan predicts more than the limit is not started.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { exportModel } from '../../src-main/engine/model/export'
import { runWatchedCli } from './watched-cli'
import { benchConfig, benchWeights, randomFiller } from './shapes'

const shapes = {
  bench: { model: { layers: 16, d: 1024, heads: 16, kvHeads: 4, ffn: 2816, vocab: 32000 }, tied: false, batch: 4, seq: 256 },
  llama1b: { model: { layers: 16, d: 2048, heads: 32, kvHeads: 8, ffn: 8192, vocab: 128256 }, tied: true, batch: 1, seq: 512 },
}
const shapeName = (process.env.TUNE_RSS_SHAPE ?? 'bench') as keyof typeof shapes
const shape = shapes[shapeName]
/** TUNE_RSS_SEQ=256,512: sequence lengths to run, each with every adapter, on one written folder (default the shape's). */
const seqs = (process.env.TUNE_RSS_SEQ ?? String(shape.seq)).split(',').map(Number)
const limitMb = Number(process.env.TUNE_RSS_LIMIT_MB ?? 8000)
const adapters = (process.env.TUNE_RSS_ADAPTERS ?? 'lora,qlora').split(',')
/** Steps per run (TUNE_RSS_STEPS, default 3, as the train bench): the peak grows over the first steps, so one step reads low. */
const steps = Number(process.env.TUNE_RSS_STEPS ?? 3)
const root = fileURLToPath(new URL('../..', import.meta.url))
const config = { ...benchConfig(shape.model), tieWordEmbeddings: shape.tied }


if (process.argv[2] === '--write') {
  // The child that writes the folder: F16 on disk, as checkpoints are published.
  exportModel({ config, weights: { ...benchWeights(config, randomFiller(12345)), ...(shape.tied ? { lmHead: undefined } : {}) } }, process.argv[3]!, { dtype: 'F16' })
} else {
  const dir = mkdtempSync(join(tmpdir(), 'sorted-tune-rss-'))
  try {
    const model = join(dir, 'model')
    const writer = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--write', model], { stdio: 'inherit', env: process.env })
    if (writer.status !== 0) throw new Error('writing the model folder failed')
    const results: Record<string, unknown> = {}
    for (const seq of seqs) {
      // Pre-tokenized records of exactly seq tokens, loss on every token: no tokenizer needed.
      const data = join(dir, `data-${seq}.jsonl`)
      const record = (r: number) => JSON.stringify({ input_ids: Array.from({ length: seq }, (_, t) => (r * 7919 + t * 104729) % config.vocabSize) })
      writeFileSync(data, `${Array.from({ length: 2 * shape.batch }, (_, r) => record(r)).join('\n')}\n`)
      const common = ['--model', model, '--data', data, '--mode', 'soft', '--exits', 'every:4:from:4', '--batch-size', String(shape.batch), '--seq-len', String(seq), '--max-steps', String(steps), '--val-split', '0', '--lr', '1e-4']
      for (const adapter of adapters) {
        const key = seqs.length > 1 ? `${adapter}@${seq}` : adapter
        const flags = ['--adapter', adapter, '--lora-rank', '16', '--lora-alpha', '32']
        const plan = spawnSync(process.execPath, [join(root, 'bin/sorted.mjs'), 'tune', ...common, ...flags, '--out', join(dir, `plan-${key}`), '--dry-run', '--json'], { encoding: 'utf8' })
        if (plan.status !== 0) throw new Error(`--dry-run failed: ${plan.stderr}`)
        const predicted = JSON.parse(plan.stdout) as { predicted_peak_mb: number; breakdown_mb: Record<string, number> }
        if (predicted.predicted_peak_mb > limitMb) {
          results[key] = { predicted_peak_mb: predicted.predicted_peak_mb, not_run: `predicted above the ${limitMb} MiB limit` }
          continue
        }
        const run = await runWatchedCli(['tune', ...common, ...flags, '--out', join(dir, `out-${key}`)], limitMb)
        // The last step's speed (the first ones warm up).
        const tokPerS = [...run.stderr.matchAll(/(\d+) tok\/s/g)].at(-1)?.[1]
        results[key] = {
          peak_rss_mb: run.peakMb,
          predicted_peak_mb: predicted.predicted_peak_mb,
          breakdown_mb: predicted.breakdown_mb,
          tokens_per_s: tokPerS ? Number(tokPerS) : null,
          wall_s: Math.round(run.wallMs / 100) / 10,
          ...(run.killed ? { killed: `RSS passed ${limitMb} MiB` } : run.code !== 0 ? { failed: run.stderr.trim().split('\n').slice(-2).join(' | ') } : {}),
        }
      }
    }
    console.log(JSON.stringify({ bench: 'tune-rss', shape: shapeName, ...shape, seq: seqs, exits: [4, 8, 12, 16], rank: 16, steps, results }))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
