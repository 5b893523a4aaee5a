import { parseArgs } from 'node:util'
import type { Contender } from '../engine/judge/contender'
import { EvaluationSetupError, runEvaluation } from '../services/evaluations/store-records'
import { dataDirName, databasePath, resolveDataDir } from '../services/paths'
import { ensureWritableFolder } from '../base/writable-folder'
import { openStore } from '../store'
import { UsageError, type Command } from './commands'

/** MODEL[@EXIT]: a folder, optionally cut at an exit (layer count). */
function parseContender(text: string, flag: string): Contender {
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
    if (values.matrix && values.a.match(/@\d+$/)) throw new UsageError('--matrix judges every exit of --a: give --a without @EXIT.')
    const a = parseContender(values.a, '--a')
    const b = parseContender(values.b, '--b')

    const say = (line: string) => process.stderr.write(`${line}\n`)
    const dataDir = ensureWritableFolder(resolveDataDir(values['data-dir']), dataDirName(values['data-dir']))
    const store = openStore(databasePath(dataDir))
    try {
      const result = await runEvaluation(store, { setPath: values.set, a, b, judge: values.judge, matrix: values.matrix, maxNewTokens }, ({ stage, done, total }) => {
        if (done > 0 && (done === total || done % 10 === 0)) say(`${stage}: ${done}/${total}`)
      })
      if (values.json) {
        const body = values.matrix
          ? { b: result.b, judge: result.judge, rows: result.rows }
          : { a: `${a.modelPath}@${result.rows[0]!.exit}`, b: result.b, judge: result.judge, ...result.rows[0]! }
        process.stdout.write(`${JSON.stringify(body)}\n`)
      } else {
        for (const r of result.rows) {
          process.stdout.write(`${a.modelPath}@${r.exit} vs ${result.b}: W ${r.wins} / L ${r.losses} / T ${r.ties} of ${r.n}, score ${r.score.toFixed(3)}, ${r.tokensPerSecond.toFixed(1)} tokens/s\n`)
        }
      }
      return 0
    } catch (error) {
      if (error instanceof EvaluationSetupError) throw new UsageError(error.message)
      throw error
    } finally {
      store.close()
    }
  },
}
