/**
 * SoFT with a LoRA adapter against full SoFT, same data, steps and seed:
 * per-exit validation loss after training (the aim: LoRA r16 within
 * 5% of full SoFT at every exit). Both start from the bundled SFT model (the
 * recipe's SFT baseline: tuned at full depth only, so its early exits have
 * everything to learn) and train SoFT with an exit at every layer on the
 * recipe's WordNet task data, through the built CLI (`npm run build` first).
 *
 * LORA_QUALITY_PART=dylora instead trains one DyLoRA adapter of rank 16 and
 * LoRA adapters of ranks 1, 2, 4, 8 and 16 (what searching for a rank with
 * LoRA takes), and compares each rank's per-exit validation loss (DyLoRA's
 * from its `results_by_rank`, measured at the end of its one run) and the
 * time of the one run against the five (the aims: DyLoRA at rank 16
 * within 2% of LoRA r16, DyLoRA several times faster than the search).
 *
 * Run: npm run bench -- lora-quality   (one JSON line; LORA_QUALITY_STEPS, default 60)
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { writeCorpus } from '../../src-main/engine/data/wordnet/corpus'

const root = fileURLToPath(new URL('../..', import.meta.url))
const base = join(root, 'resources', 'models', 'dictionary-sft')
const steps = Number(process.env.LORA_QUALITY_STEPS ?? 60)
const work = mkdtempSync(join(tmpdir(), 'bench-lora-quality-'))

interface TuneResult {
  val: Record<string, number>
  seconds: number
  out: string
}

function tune(name: string, extra: string[]): TuneResult {
  const started = performance.now()
  const args = ['tune', '--model', base, '--data', join(work, 'corpus', 'train.jsonl'), '--mode', 'soft', '--exits', 'all', '--out', join(work, name)]
  const common = ['--max-steps', String(steps), '--batch-size', '8', '--seq-len', '128', '--warmup', String(Math.min(6, Math.max(1, Math.floor(steps / 10)))), '--seed', '7', '--json']
  const run = spawnSync(process.execPath, [join(root, 'bin/sorted.mjs'), ...args, ...common, ...extra], { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 })
  if (run.status !== 0) throw new Error(`${name}: sorted tune exited ${run.status}: ${run.stderr.trim().split('\n')[0]}`)
  const out = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { val: Record<string, number> }
  return { val: out.val, seconds: (performance.now() - started) / 1000, out: join(work, name) }
}

const round = (values: Record<string, number>) => Object.fromEntries(Object.entries(values).map(([k, v]) => [k, +v.toFixed(4)]))

/** One DyLoRA run of rank 16 against the LoRA runs a rank search takes (ranks 1 to 16 by powers of two). */
function dyloraPart(): void {
  const ranks = [1, 2, 4, 8, 16]
  const adapter = (kind: string, rank: number) => ['--lr', '1e-3', '--adapter', kind, '--lora-rank', String(rank), '--lora-alpha', '32']
  const dylora = tune('dylora', adapter('dylora', 16))
  const byRank = (JSON.parse(readFileSync(join(dylora.out, 'sorted.json'), 'utf8')) as { results_by_rank: Record<string, Record<string, number>> }).results_by_rank
  const lora = Object.fromEntries(ranks.map((r) => [r, tune(`lora-${r}`, adapter('lora', r))]))
  const exits = Object.keys(lora[16]!.val)
  const dyloraOverLora = Object.fromEntries(ranks.map((r) => [r, Object.fromEntries(exits.map((e) => [e, +(byRank[r]![e]! / lora[r]!.val[e]!).toFixed(4)]))]))
  const searchSeconds = ranks.reduce((sum, r) => sum + lora[r]!.seconds, 0)
  console.log(
    JSON.stringify({
      bench: 'lora-quality',
      part: 'dylora',
      base: 'dictionary-sft',
      steps,
      dylora_val_loss_by_rank: Object.fromEntries(ranks.map((r) => [r, round(byRank[r]!)])),
      lora_val_loss_by_rank: Object.fromEntries(ranks.map((r) => [r, round(lora[r]!.val)])),
      dylora_over_lora: dyloraOverLora,
      worst_ratio_at_16: Math.max(...Object.values(dyloraOverLora[16]!)),
      dylora_s: +dylora.seconds.toFixed(1),
      lora_search_s: +searchSeconds.toFixed(1),
      search_over_dylora: +(searchSeconds / dylora.seconds).toFixed(2),
    }),
  )
}

try {
  writeCorpus(join(work, 'corpus'), { maxPerTask: 2000, maxPretrainDocuments: 10 })
  if (process.env.LORA_QUALITY_PART === 'dylora') dyloraPart()
  else fullAgainstLora()
} finally {
  rmSync(work, { recursive: true, force: true })
}

/** SoFT with LoRA r16 against full SoFT. */
function fullAgainstLora(): void {
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
}
