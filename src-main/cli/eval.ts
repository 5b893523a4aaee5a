import { existsSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { PrequantizedPrecisionError } from '../engine/generate/runtime'
import type { ContenderReport } from '../engine/judge/batch'
import type { ContenderRun } from '../engine/judge/contender'
import { ContenderSpecError, parseContenderSpec, type ContenderSpec } from '../engine/judge/contender-spec'
import { inspectModelFolder } from '../engine/model/import'
import { EvaluationSetupError, runEvaluation } from '../services/evaluations/store-records'
import { dataDirName, databasePath, resolveDataDir } from '../services/paths'
import { ensureWritableFolder } from '../base/writable-folder'
import { openStore } from '../store'
import { UsageError, type Command } from './commands'
import { evalAdapterOptions, evalAdapters, evalAdapterUsage } from './eval-adapter-flags'
import { parseWeights, weightsOpenError } from './weights-flags'

/** A side as the user named it: MODEL, MODEL@EXIT, MODEL@exact, MODEL@auto:TAU (contender-spec.ts); a bad form is a one-line error naming the flag and the contender. */
function parseContender(text: string, flag: string): ContenderSpec {
  try {
    return parseContenderSpec(text, (path) => existsSync(path))
  } catch (error) {
    if (error instanceof ContenderSpecError) throw new UsageError(`${flag} ${text}: ${error.message}.`)
    throw error
  }
}

/**
 * One side's weights: its own --weights-a/-b, else --weights, else the
 * folder's default (fp32, or int4 for a GPTQ/AWQ folder); --block-size
 * applies to each side that is int8 or int4. A GPTQ/AWQ folder asked for
 * another precision is refused here, naming the flag, before any model is read.
 */
function sideWeights(modelPath: string, own: string | undefined, ownFlag: string, shared: string | undefined, blockSize: string | undefined): Pick<ContenderRun, 'precision' | 'blockSize'> {
  const flag = own !== undefined ? ownFlag : '--weights'
  const value = own ?? shared
  const precision = parseWeights(value, undefined, flag)?.precision
  if (precision === undefined) return {}
  const prequantized = existsSync(modelPath) ? inspectModelFolder(modelPath).prequantized : undefined
  if (prequantized && precision !== 'int4') throw weightsOpenError(new PrequantizedPrecisionError(prequantized.method, precision), flag, value, modelPath)
  const block = precision !== 'fp32' && blockSize !== undefined ? parseWeights(value, blockSize, flag)?.blockSize : undefined
  return { precision, ...(block ? { blockSize: block } : {}) }
}

/** A side's report for --json: its label, weights and mode, with Exact's acceptance rate or Auto's mean exit. */
function sideJson(side: ContenderReport): Record<string, unknown> {
  const round = (x: number | null | undefined) => (typeof x === 'number' ? +x.toFixed(4) : x)
  return {
    label: side.label,
    weights: side.weights.precision,
    ...(side.weights.blockSize ? { block_size: side.weights.blockSize, lm_head: side.weights.lmHead } : {}),
    ...(side.weightsFallbackReason ? { weights_fallback_reason: side.weightsFallbackReason } : {}),
    ...(side.adapter ? { adapter: side.adapter.path, adapter_rank: side.adapter.rank, adapter_r: side.adapter.r } : {}),
    mode: side.mode,
    ...(side.mode === 'exact' ? { draft_exit: side.draftExit, acceptance_rate: round(side.acceptanceRate) } : {}),
    ...(side.mode === 'auto' ? { auto_tau: side.tau, mean_exit: round(side.meanExit) } : {}),
    answers_generated: side.generated,
  }
}

/** One line per side for people: `a: m@exact, int4 (block 32), adapter RUN at rank 4 of 16: Exact, drafted at exit 1, acceptance 0.812 (4 new answers)`. */
function sideLine(name: string, side: ContenderReport): string {
  const precision = side.weights.blockSize ? `${side.weights.precision} (block ${side.weights.blockSize})` : side.weights.precision
  const weights = side.adapter ? `${precision}, adapter ${side.adapter.path} at rank ${side.adapter.rank} of ${side.adapter.r}` : precision
  const measured = (x: number | null | undefined, digits: number) => (typeof x === 'number' ? x.toFixed(digits) : 'n/a')
  const mode =
    side.mode === 'exact'
      ? `Exact, drafted at exit ${side.draftExit}, acceptance ${measured(side.acceptanceRate, 3)}`
      : side.mode === 'auto'
        ? `Auto τ ${side.tau}, mean exit ${measured(side.meanExit, 2)}`
        : 'fixed exit'
  return `${name}: ${side.label}, ${weights}: ${mode} (${side.generated} new answers)`
}

export const evalCommand: Command = {
  name: 'eval',
  summary: 'Judge two models (or every exit of one against another) on an evaluation set.',
  usage: `sorted eval --set FILE --a MODEL[@EXIT|@exact|@auto:TAU] --b MODEL[@…] [options]

  --set FILE             PandaLM inference set, Alpaca JSON/JSONL (output = reference),
                         or JSONL of {instruction, input?, reference?}
  --a, --b CONTENDER     model folders: MODEL (the full model), MODEL@EXIT (cut at that many
                         layers), MODEL@exact (Exact mode: the full model's greedy answer, drafted
                         at the model's default draft exit) or MODEL@auto:TAU (Auto mode: per
                         token the first exit at least TAU sure, TAU in 0..1)
  --weights P            fp32 | int8 | int4 for both sides (default: fp32; a GPTQ/AWQ folder: int4)
  --block-size B         32 (default) | 64 | 128, with int8 or int4
  --weights-a P, --weights-b P   one side's weights (over --weights)
${evalAdapterUsage}
  --judge J              reference (ROUGE-L against the set's references; the default)
                         or pandalm:DIR (a causal LM judge with PandaLM's prompt)
  --matrix               judge every exit of --a against --b
  --max-new-tokens N     answer length (default 256, the paper's setting)
  --data-dir DIR         database to keep outputs and verdicts in (reruns reuse them)
  --json                 print JSON

Answers are greedy (the paper's setting), so Exact's equal the full model's.
Answers with an adapter are kept apart per adapter content and rank.
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
        weights: { type: 'string' },
        'weights-a': { type: 'string' },
        'weights-b': { type: 'string' },
        'block-size': { type: 'string' },
        ...evalAdapterOptions,
        'max-new-tokens': { type: 'string', default: '256' },
        'data-dir': { type: 'string' },
        json: { type: 'boolean', default: false },
      },
    })
    if (!values.set || !values.a || !values.b) throw new UsageError('--set, --a and --b are required.')
    const maxNewTokens = Number(values['max-new-tokens'])
    if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1) throw new UsageError('--max-new-tokens must be a positive whole number.')
    if (values.judge !== 'reference' && !values.judge.startsWith('pandalm:')) throw new UsageError('--judge must be reference or pandalm:DIR.')
    const specA = parseContender(values.a, '--a')
    const specB = parseContender(values.b, '--b')
    if (values.matrix && (specA.exit !== undefined || specA.mode)) throw new UsageError('--matrix judges every exit of --a: give --a without @EXIT, @exact or @auto.')
    const adapters = evalAdapters(values)
    const a: ContenderRun = { ...specA, ...sideWeights(specA.modelPath, values['weights-a'], '--weights-a', values.weights, values['block-size']), ...(adapters.a ? { adapter: adapters.a } : {}) }
    const b: ContenderRun = { ...specB, ...sideWeights(specB.modelPath, values['weights-b'], '--weights-b', values.weights, values['block-size']), ...(adapters.b ? { adapter: adapters.b } : {}) }
    if (values['block-size'] !== undefined && a.blockSize === undefined && b.blockSize === undefined) {
      throw new UsageError('--block-size applies to int8 and int4 weights only: give --weights, --weights-a or --weights-b int8 or int4 with it.')
    }

    const say = (line: string) => process.stderr.write(`${line}\n`)
    const dataDir = ensureWritableFolder(resolveDataDir(values['data-dir']), dataDirName(values['data-dir']))
    const store = openStore(databasePath(dataDir))
    try {
      const result = await runEvaluation(store, { setPath: values.set, a, b, judge: values.judge, matrix: values.matrix, maxNewTokens }, ({ stage, done, total }) => {
        if (done > 0 && (done === total || done % 10 === 0)) say(`${stage}: ${done}/${total}`)
      })
      const { a: sideA, b: sideB } = result.contenders
      if (values.json) {
        const contenders = { a: sideJson(sideA), b: sideJson(sideB) }
        const body = values.matrix
          ? { b: result.b, judge: result.judge, contenders, rows: result.rows }
          : { a: sideA.label, b: result.b, judge: result.judge, contenders, ...result.rows[0]! }
        process.stdout.write(`${JSON.stringify(body)}\n`)
      } else {
        process.stdout.write(`${sideLine('a', sideA)}\n${sideLine('b', sideB)}\n`)
        for (const r of result.rows) {
          const labelA = values.matrix ? `${a.modelPath}@${r.exit}` : sideA.label
          process.stdout.write(`${labelA} vs ${result.b}: W ${r.wins} / L ${r.losses} / T ${r.ties} of ${r.n}, score ${r.score.toFixed(3)}, ${r.tokensPerSecond.toFixed(1)} tokens/s\n`)
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
