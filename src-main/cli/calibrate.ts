/**
 * `sorted calibrate`: measures Exact mode at every draft exit and stores the
 * fastest as the model's `draft_exit` in sorted.json, which `sorted generate
 * --speculative` (and the app's Exact mode) then drafts with by default.
 */
import { parseArgs } from 'node:util'
import { ensureWritableFolder } from '../base/writable-folder'
import { PromptError } from '../engine/generate/context'
import { builtInCalibrationPrompts, calibrationInputs, readCalibrationPrompts, type CalibrationPrompt } from '../engine/generate/calibration-prompts'
import { calibrateDraftExit, DEFAULT_CALIBRATION_TOKENS, draftExitsOf, type DraftCalibration } from '../engine/generate/draft-calibration'
import { draftCalibrationRecord, writeDraftCalibration } from '../engine/generate/draft-calibration-record'
import { InsufficientMemoryError } from '../engine/generate/memory-estimate'
import { ModelSession } from '../engine/generate/model-session'
import { PrequantizedPrecisionError } from '../engine/generate/runtime'
import { readSortedFile } from '../engine/model/sorted-file'
import { UsageError, type Command } from './commands'
import { parseWeights } from './weights-flags'
import { numberOption, positiveInt } from './options'

/** Longer answers only make the calibration slower: 32 tokens already hold several draft rounds. */
const MAX_CALIBRATION_TOKENS = 1024

export const calibrateCommand: Command = {
  name: 'calibrate',
  summary: "Measure Exact mode at every draft exit and store the fastest as the model's draft_exit in sorted.json.",
  usage: `sorted calibrate --model DIR [options]

Answers a few prompts greedily at full depth and in Exact mode drafted at every
offered exit below it (each answer timed as the fastest of 3 tries), prints
decode tokens/s, speed-up and acceptance per exit, and writes the fastest exit
as draft_exit (with the figures, as draft_calibration) into DIR/sorted.json,
keeping every other field. \`sorted generate --speculative\` and the app's Exact
mode draft there unless told otherwise.

  --model DIR               a model folder (it must be writable unless --dry-run)
  --prompts FILE            prompts to answer: JSONL (or a JSON array) of {"instruction", "input"?}
                            records, or plain text with one prompt a line (default: 6 built-in
                            everyday prompts); through the model's chat template when it has one
  --max-new-tokens N        tokens per answer, 2..${MAX_CALIBRATION_TOKENS} (default ${DEFAULT_CALIBRATION_TOKENS})
  --weights P               fp32 (default) | int8 | int4: the precision to measure in
  --dry-run                 measure and print, write nothing
  --json                    print one JSON object: the figures per exit, draft_exit, and written
                            (the sorted.json path, or null)`,
  async run(args) {
    const { values } = parseArgs({
      args,
      strict: true,
      options: {
        model: { type: 'string' },
        prompts: { type: 'string' },
        'max-new-tokens': { type: 'string', default: String(DEFAULT_CALIBRATION_TOKENS) },
        weights: { type: 'string' },
        'dry-run': { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
      },
    })
    if (!values.model) throw new UsageError('--model DIR is required.')
    const maxNewTokens = numberOption('max-new-tokens', values['max-new-tokens'], (n) => positiveInt(n) && n >= 2 && n <= MAX_CALIBRATION_TOKENS, `a whole number in 2..${MAX_CALIBRATION_TOKENS}`)!
    const weights = parseWeights(values.weights, undefined)
    // A malformed prompts file is refused before any weights are read.
    const prompts: CalibrationPrompt[] = values.prompts !== undefined ? readCalibrationPrompts(values.prompts) : builtInCalibrationPrompts()
    const dir = values.model

    const session = await ModelSession.open(dir, { ...(weights ? { weights } : {}), log: (m) => process.stderr.write(`${m}\n`) }).catch((error: unknown) => {
      if (error instanceof InsufficientMemoryError) throw new InsufficientMemoryError(error.estimate, error.availableBytes, error.fits, (p) => `pass --weights ${p}`)
      if (error instanceof PrequantizedPrecisionError) throw new UsageError(`--weights ${values.weights}: ${dir}: ${error.message} (omit --weights, or pass --weights int4).`)
      throw error
    })
    try {
      const L = session.info.numLayers
      if (draftExitsOf(session.info).length === 0) throw new UsageError(`${dir} offers no exit below its full depth (${L}): Exact mode has no exit to draft with.`)
      if (values.prompts !== undefined && !session.info.hasTokenizer) {
        throw new UsageError(`--prompts: ${dir} has no tokenizer (tokenizer.json) to encode text with; leave --prompts out to calibrate on fixed token ids.`)
      }
      if (!values['dry-run']) {
        // Before minutes of measuring: the file must be valid and the folder writable.
        readSortedFile(dir, L)
        ensureWritableFolder(dir, '--model')
      }
      const inputs = calibrationInputs(prompts, { ...session.info, vocabSize: session.config.vocabSize })
      inputs.forEach((input, i) => {
        try {
          session.encode(input)
        } catch (error) {
          if (error instanceof PromptError) throw new UsageError(`${prompts[i]!.at}: ${error.message}.`)
          throw error
        }
      })
      const progress = !values.json && process.stderr.isTTY
      const calibration = await calibrateDraftExit(session, {
        prompts: inputs,
        maxNewTokens,
        ...(progress ? { onProgress: (p) => process.stderr.write(`\r\x1b[K${Math.round(p.fraction * 100)}% ${p.message}`) } : {}),
      })
      if (progress) process.stderr.write('\r\x1b[K')
      const record = draftCalibrationRecord(calibration, session.info.weights, new Date())
      const written = values['dry-run'] ? null : writeDraftCalibration(dir, L, record)
      if (values.json) {
        process.stdout.write(`${JSON.stringify({ model: dir, weights: session.info.weights.precision, ...figures(calibration), written })}\n`)
      } else {
        process.stdout.write(table(calibration, session.info.weights.precision))
        process.stdout.write(written ? `Wrote draft_exit ${calibration.chosenExit} and draft_calibration to ${written}.\n` : '--dry-run: nothing written.\n')
      }
      return 0
    } finally {
      await session.release()
    }
  },
}

/** The calibration in the JSON output's snake_case. */
function figures(c: DraftCalibration) {
  return {
    full_depth_tokens_per_s: +c.fullDepthTokensPerS.toFixed(1),
    exits: c.exits.map((m) => ({
      exit: m.exit,
      tokens_per_s: +m.tokensPerS.toFixed(1),
      speedup: +m.speedup.toFixed(3),
      acceptance_rate: +m.acceptanceRate.toFixed(3),
      drafted: m.drafted,
      accepted: m.accepted,
      matches_full_depth: m.matchesFullDepth,
    })),
    draft_exit: c.chosenExit,
    beats_full_depth: c.beatsFullDepth,
    prompts: c.prompts,
    max_new_tokens: c.maxNewTokens,
    tries: c.tries,
    decoded_tokens: c.decodedTokens,
  }
}

function table(c: DraftCalibration, precision: string): string {
  const rows = [
    ['exit', 'tokens/s', 'speed-up', 'acceptance'],
    ['full', c.fullDepthTokensPerS.toFixed(1), '1.00×', '–'],
    ...c.exits.map((m) => [`${m.exit}${m.exit === c.chosenExit ? ' *' : ''}`, m.tokensPerS.toFixed(1), `${m.speedup.toFixed(2)}×`, m.acceptanceRate.toFixed(2)]),
  ]
  const widths = rows[0]!.map((_, j) => Math.max(...rows.map((r) => r[j]!.length)))
  const lines = rows.map((r) => r.map((cell, j) => (j === 0 ? cell.padEnd(widths[j]!) : cell.padStart(widths[j]!))).join('  '))
  const chosen = c.exits.find((m) => m.exit === c.chosenExit)!
  const verdict = c.beatsFullDepth
    ? `Draft exit ${c.chosenExit}: ${chosen.speedup.toFixed(2)}× full depth.`
    : `Draft exit ${c.chosenExit} is the fastest, but no draft exit beats full depth (${chosen.speedup.toFixed(2)}×): Exact mode costs speed on this model and machine.`
  const mismatch = c.exits.filter((m) => !m.matchesFullDepth).map((m) => m.exit)
  return [
    `${c.prompts} prompts × ${c.maxNewTokens} tokens, ${precision}, each answer the fastest of ${c.tries} tries; decode tokens/s (${c.decodedTokens} tokens per setting):`,
    ...lines,
    verdict,
    ...(mismatch.length ? [`Warning: Exact answers drafted at exit ${mismatch.join(', ')} differ from full depth's.`] : []),
    '',
  ].join('\n')
}
