/**
 * SoFT with a LoRA adapter against full SoFT, same data, steps and seed:
 * per-exit validation loss after training (the aim: LoRA r16 within
 * 5% of full SoFT at every exit). Both start from the bundled SFT model (the
 * recipe's SFT baseline: tuned at full depth only, so its early exits have
 * everything to learn) and train SoFT with an exit at every layer on the
 * recipe's WordNet task data, through the built CLI (`npm run build` first).
 *
 * Run: npm run bench -- lora-quality   (one JSON line; LORA_QUALITY_STEPS, default 60)
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { writeCorpus } from '../../src-main/engine/data/wordnet/corpus'

const root = fileURLToPath(new URL('../..', import.meta.url))
const base = join(root, 'resources', 'models', 'dictionary-sft')
const steps = Number(process.env.LORA_QUALITY_STEPS ?? 60)
const work = mkdtempSync(join(tmpdir(), 'bench-lora-quality-'))

function tune(name: string, extra: string[]): { val: Record<string, number>; seconds: number } {
  const started = performance.now()
  const args = ['tune', '--model', base, '--data', join(work, 'corpus', 'train.jsonl'), '--mode', 'soft', '--exits', 'all', '--out', join(work, name)]
  const common = ['--max-steps', String(steps), '--batch-size', '8', '--seq-len', '128', '--warmup', String(Math.min(6, Math.max(1, Math.floor(steps / 10)))), '--seed', '7', '--json']
  const run = spawnSync(process.execPath, [join(root, 'bin/sorted.mjs'), ...args, ...common, ...extra], { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 })
  if (run.status !== 0) throw new Error(`${name}: sorted tune exited ${run.status}: ${run.stderr.trim().split('\n')[0]}`)
  const out = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { val: Record<string, number> }
  return { val: out.val, seconds: (performance.now() - started) / 1000 }
}

try {
  writeCorpus(join(work, 'corpus'), { maxPerTask: 2000, maxPretrainDocuments: 10 })
  // Each method at the learning rate it is usually run at: LoRA's low-rank updates take a larger one.
  const full = tune('full', ['--lr', '3e-4'])
  const lora = tune('lora', ['--lr', '1e-3', '--adapter', 'lora', '--lora-rank', '16', '--lora-alpha', '32'])
  const exits = Object.keys(full.val)
  const ratio = Object.fromEntries(exits.map((e) => [e, +(lora.val[e]! / full.val[e]!).toFixed(4)]))
  console.log(
    JSON.stringify({
      bench: 'lora-quality',
      base: 'dictionary-sft',
      steps,
      batch: 8,
      seq_len: 128,
      full_val_loss: Object.fromEntries(exits.map((e) => [e, +full.val[e]!.toFixed(4)])),
      lora_r16_val_loss: Object.fromEntries(exits.map((e) => [e, +lora.val[e]!.toFixed(4)])),
      lora_over_full: ratio,
      worst_ratio: Math.max(...Object.values(ratio)),
      full_s: +full.seconds.toFixed(1),
      lora_s: +lora.seconds.toFixed(1),
    }),
  )
} finally {
  rmSync(work, { recursive: true, force: true })
}
