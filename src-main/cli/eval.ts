import { mkdirSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { ModelSession } from '../engine/generate/model-session'
import { createModelJudge, PANDALM_DECODING } from '../engine/judge/model-judge'
import { referenceJudge } from '../engine/judge/reference'
import type { Tally } from '../engine/judge/verdicts'
import { Evaluations, type Contender, type Decoding, type PairJudge } from '../services/evaluation'
import { databasePath, resolveDataDir } from '../services/paths'
import { openStore } from '../store'
import { UsageError, type Command } from './commands'

/** MODEL[@EXIT]: a folder, optionally cut at an exit (layer count). */
function parseContender(text: string, flag: string): { modelPath: string; exit: number | undefined } {
  const match = text.match(/^(.*)@(\d+)$/)
  if (!match) return { modelPath: text, exit: undefined }
  if (Number(match[2]) < 1) throw new UsageError(`${flag} ${text}: the exit must be ≥ 1.`)
  return { modelPath: match[1]!, exit: Number(match[2]) }
}

export const evalCommand: Command = {
  name: 'eval',
  summary: 'Judge two models (or every exit of one against another) on an evaluation set.',
  usage: `sorted eval --set FILE --a MODEL[@EXIT] --b MODEL[@EXIT] [options]

  --set FILE             PandaLM inference set, Alpaca JSON/JSONL (output = reference),
                         or JSONL of {instruction, input?, reference?}
  --a, --b MODEL[@EXIT]  model folders; @EXIT cuts at that many layers (default: full)
  --judge J              reference (ROUGE-L against the set's references; the default)
                         or pandalm:DIR (a causal LM judge with PandaLM's prompt)
  --matrix               judge every exit of --a against --b
  --max-new-tokens N     answer length (default 256, the paper's setting)
  --data-dir DIR         database to keep outputs and verdicts in (reruns reuse them)
  --json                 print JSON

Each pair is judged in both orders; a disagreement counts half each way.
Score = (wins − losses) / N.`,
  async run(args) {
    const { values } = parseArgs({
      args,
      strict: true,
      options: {
        set: { type: 'string' },
        a: { type: 'string' },
        b: { type: 'string' },
        judge: { type: 'string', default: 'reference' },
        matrix: { type: 'boolean', default: false },
        'max-new-tokens': { type: 'string', default: '256' },
        'data-dir': { type: 'string' },
        json: { type: 'boolean', default: false },
      },
    })
    if (!values.set || !values.a || !values.b) throw new UsageError('--set, --a and --b are required.')
    const maxNewTokens = Number(values['max-new-tokens'])
    if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1) throw new UsageError('--max-new-tokens must be a positive whole number.')
    if (values.judge !== 'reference' && !values.judge.startsWith('pandalm:')) throw new UsageError('--judge must be reference or pandalm:DIR.')
    const a = parseContender(values.a, '--a')
    const b = parseContender(values.b, '--b')
    if (values.matrix && a.exit !== undefined) throw new UsageError('--matrix judges every exit of --a: give --a without @EXIT.')

    const say = (line: string) => process.stderr.write(`${line}\n`)
    const dataDir = resolveDataDir(values['data-dir'])
    mkdirSync(dataDir, { recursive: true })
    const store = openStore(databasePath(dataDir))
    const sessions = new Map<string, ModelSession>()
    const session = async (path: string) => {
      let s = sessions.get(path)
      if (!s) sessions.set(path, (s = await ModelSession.open(path)))
      return s
    }
    try {
      const evaluations = new Evaluations(store)
      const { items } = evaluations.importSet(values.set)
      let judge: PairJudge
      if (values.judge === 'reference') {
        const missing = items.filter((i) => i.reference === null).length
        if (missing) throw new UsageError(`the reference judge needs a reference for every item; ${missing} of ${items.length} have none.`)
        judge = { name: 'reference', judge: async (item, r1, r2) => referenceJudge({ response1: r1, response2: r2, reference: item.reference! }) }
      } else {
        const judgeDir = values.judge.slice('pandalm:'.length)
        const judgeSession = await session(judgeDir)
        const model = createModelJudge(async (prompt) => {
          const result = await judgeSession.generate({
            input: { prompt },
            maxNewTokens: PANDALM_DECODING.maxNewTokens,
            exitAt: () => judgeSession.info.numLayers,
            sampling: { temperature: 0, repetitionPenalty: PANDALM_DECODING.repetitionPenalty },
          })
          return result.text
        })
        judge = { name: `pandalm:${judgeSession.info.name}`, judge: (item, r1, r2) => model.judge({ instruction: item.instruction, input: item.input, response1: r1, response2: r2 }) }
      }
      const decoding: Decoding = { maxNewTokens, greedy: true }
      const sb = await session(b.modelPath)
      const contenderB: Contender = { modelPath: b.modelPath, exit: b.exit ?? sb.info.numLayers }
      const sa = await session(a.modelPath)
      const exitsOfA = values.matrix ? sa.info.exits : [a.exit ?? sa.info.numLayers]
      const progress = (what: string) => (done: number, total: number) => {
        if (done === total || done % 10 === 0) say(`${what}: ${done}/${total}`)
      }
      const made = await evaluations.generate(items, contenderB, sb, decoding, progress(`answers of ${b.modelPath}@${contenderB.exit}`))
      if (made) say(`${made} new answers from ${b.modelPath}@${contenderB.exit}`)
      const rows: (Tally & { exit: number; tokensPerSecond: number })[] = []
      for (const exit of exitsOfA) {
        const contenderA: Contender = { modelPath: a.modelPath, exit }
        await evaluations.generate(items, contenderA, sa, decoding, progress(`answers of ${a.modelPath}@${exit}`))
        const result = await evaluations.judge(items, contenderA, contenderB, decoding, judge, progress(`judging @${exit}`))
        rows.push({ exit, ...result, tokensPerSecond: evaluations.speed(items, contenderA, decoding) })
      }
      const label = `${b.modelPath}@${contenderB.exit}`
      if (values.json) {
        const body = values.matrix ? { b: label, judge: judge.name, rows } : { a: `${a.modelPath}@${rows[0]!.exit}`, b: label, judge: judge.name, ...rows[0]! }
        process.stdout.write(`${JSON.stringify(body)}\n`)
      } else {
        for (const r of rows) {
          process.stdout.write(`${a.modelPath}@${r.exit} vs ${label}: W ${r.wins} / L ${r.losses} / T ${r.ties} of ${r.n}, score ${r.score.toFixed(3)}, ${r.tokensPerSecond.toFixed(1)} tokens/s\n`)
        }
      }
      return 0
    } finally {
      for (const s of sessions.values()) await s.release()
      store.close()
    }
  },
}
