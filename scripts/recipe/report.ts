/**
 * `npm run recipe:report`: the bundled models' results for the README, from
 * what the recipe shipped plus a few measurements of its own, rerunnable:
 *  - the per-exit table (held-out validation loss, exact match and ROUGE-L on
 *    held-out instruction tasks, decode tokens/s) of SoFT and SFT, read from
 *    each model's sorted.json, and the issue's aims checked against it;
 *  - how often the full models define a word correctly in substance, on
 *    held-out words and on words seen in training;
 *  - three sample answers (shallow, middle, full exit);
 *  - every SoFT exit judged against SFT's full model and against SFT at the
 *    same exit on the shipped evaluation set (reference judge, both orders);
 * and it writes the shipped evaluation set, resources/eval/dictionary-heldout.jsonl
 * (held-out WordNet instructions with references, a spread sample per task).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { ModelSession } from '../../src-main/engine/generate/model-session'
import { rougeL, rougeTokens } from '../../src-main/engine/judge/rouge'
import { runEvaluation } from '../../src-main/services/evaluations/store-records'
import { openStore } from '../../src-main/store'

const root = resolve(new URL('../..', import.meta.url).pathname)
const { values } = parseArgs({ options: { models: { type: 'string' }, corpus: { type: 'string' }, 'eval-set': { type: 'string' } } })
const models = resolve(values.models ?? join(root, 'resources', 'models'))
const corpus = resolve(values.corpus ?? join(root, '.recipe', 'default-model', 'corpus'))
const evalSet = resolve(values['eval-set'] ?? join(root, 'resources', 'eval', 'dictionary-heldout.jsonl'))
const say = (line = '') => process.stdout.write(`${line}\n`)

interface Item {
  instruction: string
  input: string
  output: string
}
interface Sorted {
  results: Record<string, { val_loss: number; perplexity: number; exact_match: number; rouge_l: number; decode_tokens_per_s: number }>
  samples?: { exit: number; instruction: string; answer: string }[]
}

const readJsonl = (file: string): Item[] => readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Item)
const taskOf = (item: Item) => item.instruction.split(' ').slice(0, 2).join(' ')
/** Every k-th item of each task, up to `per` each: a deterministic spread over the alphabet of lemmas. */
function spread(items: Item[], per: number, filter: (item: Item) => boolean = () => true): Item[] {
  const byTask = new Map<string, Item[]>()
  for (const item of items.filter(filter)) byTask.set(taskOf(item), [...(byTask.get(taskOf(item)) ?? []), item])
  return [...byTask.values()].flatMap((list) => list.filter((_, i) => i % Math.max(1, Math.floor(list.length / per)) === 0).slice(0, per))
}

// ---------------------------------------------------------------- the shipped evaluation set

if (existsSync(join(corpus, 'test.jsonl'))) {
  const items = spread(readJsonl(join(corpus, 'test.jsonl')), 12)
  mkdirSync(dirname(evalSet), { recursive: true })
  writeFileSync(evalSet, `${items.map((i) => JSON.stringify({ instruction: i.instruction, input: i.input, output: i.output })).join('\n')}\n`)
  say(`wrote ${evalSet} (${items.length} held-out items)`)
}

// ---------------------------------------------------------------- per-exit table and aims

const soft = JSON.parse(readFileSync(join(models, 'dictionary-soft', 'sorted.json'), 'utf8')) as Sorted
const sft = JSON.parse(readFileSync(join(models, 'dictionary-sft', 'sorted.json'), 'utf8')) as Sorted
const exits = Object.keys(soft.results).map(Number).sort((a, b) => a - b)
const L = exits.at(-1)!
say('\n| exit | SoFT val loss | SFT val loss | SoFT EM | SFT EM | SoFT ROUGE-L | SFT ROUGE-L | SoFT tok/s | SFT tok/s |')
say('|---|---|---|---|---|---|---|---|---|')
for (const e of exits) {
  const a = soft.results[e]!
  const b = sft.results[e]!
  say(
    `| ${e} | ${a.val_loss.toFixed(3)} | ${b.val_loss.toFixed(3)} | ${(100 * a.exact_match).toFixed(1)}% | ${(100 * b.exact_match).toFixed(1)}% | ` +
      `${a.rouge_l.toFixed(3)} | ${b.rouge_l.toFixed(3)} | ${a.decode_tokens_per_s.toFixed(0)} | ${b.decode_tokens_per_s.toFixed(0)} |`,
  )
}
const mid = Math.round(L / 2)
const sftFull = sft.results[L]!.val_loss
const midGap = soft.results[mid]!.val_loss / sftFull - 1
const fullGap = soft.results[L]!.val_loss / sftFull - 1
say(`\naim: SoFT exit ${mid} val loss within 10% of SFT full: ${(100 * midGap).toFixed(1)}% → ${midGap <= 0.1 ? 'met' : 'not met'}`)
say(`aim: SoFT full within 2% of SFT full: ${(100 * fullGap).toFixed(1)}% → ${fullGap <= 0.02 ? 'met' : 'not met'}`)
say(`aim: SFT early exits clearly worse: SFT exit ${mid} val loss ${sft.results[mid]!.val_loss.toFixed(3)} vs SoFT ${soft.results[mid]!.val_loss.toFixed(3)}; exit 1: ${sft.results[1]!.val_loss.toFixed(3)} vs ${soft.results[1]!.val_loss.toFixed(3)}`)

// ---------------------------------------------------------------- "define X"

const stop = new Set('a an the of or and to in on for with by as at from that which is are be its it this any one some used'.split(' '))
const contentWords = (text: string) => new Set(rougeTokens(text).filter((w) => w.length > 2 && !stop.has(w)))
/**
 * Correct in substance: the answer uses at least half of the reference gloss's
 * content words (ignoring function words), or scores ROUGE-L F1 ≥ 0.5.
 */
function definesCorrectly(answer: string, reference: string): boolean {
  const ref = contentWords(reference)
  const got = contentWords(answer)
  const shared = [...ref].filter((w) => got.has(w)).length
  return (ref.size > 0 && shared / ref.size >= 0.5) || rougeL(answer, reference).f1 >= 0.5
}

const isDefine = (item: Item) => item.instruction.startsWith('Define')
const heldOut = existsSync(join(corpus, 'test.jsonl')) ? spread(readJsonl(join(corpus, 'test.jsonl')), 60, isDefine).slice(0, 60) : []
const seen = existsSync(join(corpus, 'train.jsonl')) ? spread(readJsonl(join(corpus, 'train.jsonl')), 60, isDefine).slice(0, 60) : []
for (const name of ['dictionary-soft', 'dictionary-sft']) {
  const session = await ModelSession.open(join(models, name))
  for (const [label, items] of [['held-out words', heldOut], ['words seen in training', seen]] as const) {
    if (!items.length) continue
    let correct = 0
    let example = ''
    for (const item of items) {
      const result = await session.generate({ input: { messages: [{ role: 'user', content: item.instruction }] }, maxNewTokens: 40, exitAt: () => session.info.numLayers })
      if (definesCorrectly(result.text.trim(), item.output)) {
        correct++
        example ||= `${item.instruction} → ${result.text.trim()}  (reference: ${item.output})`
      }
    }
    say(`${name}, full model, "define X" on ${label}: ${correct}/${items.length} = ${((100 * correct) / items.length).toFixed(0)}% correct in substance${example ? `; e.g. ${example}` : ''}`)
  }
  await session.release()
}

// ---------------------------------------------------------------- SoFT exits vs SFT, reference judge

if (existsSync(evalSet)) {
  const scratch = mkdtempSync(join(tmpdir(), 'recipe-report-'))
  const store = openStore(join(scratch, 'report.db'))
  try {
    const softDir = join(models, 'dictionary-soft')
    const sftDir = join(models, 'dictionary-sft')
    const job = { setPath: evalSet, judge: 'reference', maxNewTokens: 40 }
    const vsFull = await runEvaluation(store, { ...job, a: { modelPath: softDir }, b: { modelPath: sftDir }, matrix: true })
    const n = vsFull.rows[0]?.n ?? 0
    say(`\nSoFT exits vs SFT on ${n} held-out instructions (reference judge: ROUGE-L F1 against the reference, both orders; score = (W − L) / N):`)
    say('\n| SoFT exit | vs SFT full: W / L / T | score | vs SFT at the same exit: W / L / T | score | SoFT tok/s |')
    say('|---|---|---|---|---|---|')
    const wlt = (r: { wins: number; losses: number; ties: number }) => `${r.wins} / ${r.losses} / ${r.ties}`
    for (const row of vsFull.rows) {
      const same = await runEvaluation(store, { ...job, a: { modelPath: softDir, exit: row.exit }, b: { modelPath: sftDir, exit: row.exit }, matrix: false })
      const s = same.rows[0]!
      say(`| ${row.exit} | ${wlt(row)} | ${row.score.toFixed(3)} | ${wlt(s)} | ${s.score.toFixed(3)} | ${row.tokensPerSecond.toFixed(0)} |`)
    }
  } finally {
    store.close()
    rmSync(scratch, { recursive: true, force: true })
  }
}

// ---------------------------------------------------------------- samples

say('\nSamples (SoFT, held-out instructions, greedy):')
for (const sample of soft.samples ?? []) say(`- exit ${sample.exit}: ${sample.instruction} → ${sample.answer}`)
