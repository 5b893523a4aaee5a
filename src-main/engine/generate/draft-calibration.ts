/**
 * Calibrating Exact mode's draft exit: which shallow exit makes the full
 * model's answers fastest on this machine.
 *
 * Acceptance alone does not decide it (a deep draft agrees more often but
 * costs more per draft), nor does a draft's cost alone, and the LM head's
 * share of a token differs from model to model. So the calibration measures
 * what the user gets: greedy answers to a few prompts at full depth and in
 * Exact mode at every offered exit below it, decode tokens/s of each, and
 * chooses the exit with the best measured speed (which already holds its
 * acceptance: speed = tokens per round ÷ time per round). Greedy Exact
 * answers are the full model's tokens, so every setting decodes the same
 * tokens and the speeds compare like with like.
 *
 * Each answer is timed as the fastest of a few tries: on a shared machine,
 * bursts of other work only ever add time. The tries are interleaved over the
 * settings (try 1 of every setting, then try 2, …) so that a slow stretch
 * does not fall on one setting alone.
 */
import type { ModelSession } from './model-session'
import type { PromptInput } from './prompt'

/** A model's figures at one draft exit. */
export interface DraftExitMeasurement {
  exit: number
  /** Decode tokens/s of greedy Exact answers drafted at this exit. */
  tokensPerS: number
  /** tokensPerS ÷ full depth's. */
  speedup: number
  /** Drafts the full model accepted ÷ drafts made. */
  acceptanceRate: number
  drafted: number
  accepted: number
  /** Every answer token-identical to full depth's (Exact's promise; false would be an engine bug). */
  matchesFullDepth: boolean
}

export interface DraftCalibration {
  /** Decode tokens/s of plain full-depth answers to the same prompts. */
  fullDepthTokensPerS: number
  /** Tokens decoded per setting (after each answer's first, which the prefill makes). */
  decodedTokens: number
  /** Every offered exit below full depth, ascending. */
  exits: DraftExitMeasurement[]
  /** The exit with the best measured speed. */
  chosenExit: number
  /** Whether the chosen exit is faster than full depth (Exact costs speed when it is not). */
  beatsFullDepth: boolean
  prompts: number
  maxNewTokens: number
  tries: number
}

export interface CalibrationProgress {
  /** 0..1 */
  fraction: number
  message: string
}

export interface DraftCalibrationOptions {
  prompts: readonly PromptInput[]
  /** Tokens per answer (default 32: enough rounds to measure, short enough to be quick). */
  maxNewTokens?: number
  /** Times each answer is run; the fastest counts (default 3). */
  tries?: number
  onProgress?: (progress: CalibrationProgress) => void
  signal?: AbortSignal
}

/** What the calibration needs of a session (tests give a stand-in). */
export type CalibrationSession = Pick<ModelSession, 'info' | 'generate'>

/** The model cannot be calibrated (no exit to draft with, answers too short to time). */
export class DraftCalibrationError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'DraftCalibrationError'
  }
}

export const DEFAULT_CALIBRATION_TOKENS = 32
export const DEFAULT_CALIBRATION_TRIES = 3

/**
 * The rule: the fastest measured exit. Ties go to the higher acceptance
 * (steadier on other text), then the shallower exit. It is chosen even when
 * it is slower than full depth — Exact then costs speed, and the result says
 * so through `beatsFullDepth` — since Exact must draft at some exit.
 */
export function chooseDraftExit(
  fullDepthTokensPerS: number,
  measured: readonly Pick<DraftExitMeasurement, 'exit' | 'tokensPerS' | 'acceptanceRate'>[],
): { exit: number; beatsFullDepth: boolean } {
  if (measured.length === 0) throw new DraftCalibrationError('no draft exit was measured')
  const best = measured.reduce((a, b) => {
    if (b.tokensPerS !== a.tokensPerS) return b.tokensPerS > a.tokensPerS ? b : a
    if (b.acceptanceRate !== a.acceptanceRate) return b.acceptanceRate > a.acceptanceRate ? b : a
    return b.exit < a.exit ? b : a
  })
  return { exit: best.exit, beatsFullDepth: best.tokensPerS > fullDepthTokensPerS }
}

/** The exits Exact may draft at: the offered ones below full depth. */
export function draftExitsOf(info: Pick<CalibrationSession['info'], 'exits' | 'numLayers'>): number[] {
  return info.exits.filter((e) => e >= 1 && e < info.numLayers)
}

/** One setting's best answer per prompt (the fastest try). */
interface Answer {
  tokens: number[]
  decodeMs: number
  drafted: number
  accepted: number
}

/**
 * Measures full depth and Exact at every draft exit on `prompts`, and
 * chooses the draft exit. Throws the signal's reason when cancelled, and
 * DraftCalibrationError when the model has no exit to draft with or every
 * answer ends at its first token (nothing to time).
 */
export async function calibrateDraftExit(session: CalibrationSession, options: DraftCalibrationOptions): Promise<DraftCalibration> {
  const { prompts, signal, onProgress } = options
  const maxNewTokens = options.maxNewTokens ?? DEFAULT_CALIBRATION_TOKENS
  const tries = options.tries ?? DEFAULT_CALIBRATION_TRIES
  const L = session.info.numLayers
  const draftExits = draftExitsOf(session.info)
  if (draftExits.length === 0) {
    throw new DraftCalibrationError(`${session.info.path}: no exit below the full depth (${L}) to draft with: Exact mode has nothing to calibrate`)
  }
  if (prompts.length === 0) throw new DraftCalibrationError('no prompts to calibrate with')
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 2) throw new DraftCalibrationError(`answers of ${maxNewTokens} tokens are too short to time: give at least 2`)

  // undefined: full depth; a number: Exact drafted there.
  const settings: (number | undefined)[] = [undefined, ...draftExits]
  const best = new Map<number | undefined, (Answer | undefined)[]>(settings.map((s) => [s, prompts.map(() => undefined)]))
  const total = tries * settings.length * prompts.length
  let done = 0
  for (let t = 0; t < tries; t++) {
    for (const setting of settings) {
      for (const [p, input] of prompts.entries()) {
        signal?.throwIfAborted()
        onProgress?.({ fraction: done / total, message: `try ${t + 1}/${tries}: ${setting === undefined ? 'full depth' : `exit ${setting}`}, prompt ${p + 1}/${prompts.length}` })
        const result = await session.generate({
          input,
          maxNewTokens,
          exitAt: () => (setting === undefined ? L : 'exact'),
          ...(setting === undefined ? {} : { speculative: { draftExit: setting, draftTokens: 'auto' } }),
          ...(signal ? { signal } : {}),
        })
        signal?.throwIfAborted()
        const kept = best.get(setting)!
        const previous = kept[p]
        if (!previous || result.decodeMs < previous.decodeMs) {
          kept[p] = { tokens: result.tokens, decodeMs: result.decodeMs, drafted: result.drafted, accepted: result.accepted }
        }
        done++
      }
    }
  }
  onProgress?.({ fraction: 1, message: 'measured' })

  const summary = (setting: number | undefined) => {
    const answers = best.get(setting)! as Answer[]
    const decoded = answers.reduce((n, a) => n + Math.max(0, a.tokens.length - 1), 0)
    const ms = answers.reduce((n, a) => n + a.decodeMs, 0)
    return {
      answers,
      decoded,
      tokensPerS: ms > 0 ? (decoded / ms) * 1000 : 0,
      drafted: answers.reduce((n, a) => n + a.drafted, 0),
      accepted: answers.reduce((n, a) => n + a.accepted, 0),
    }
  }
  const full = summary(undefined)
  if (full.decoded === 0 || full.tokensPerS === 0) {
    throw new DraftCalibrationError('every answer ended at its first token (end of sequence): there is no decoding to time; give prompts the model answers at more length')
  }
  const exits: DraftExitMeasurement[] = draftExits.map((exit) => {
    const m = summary(exit)
    return {
      exit,
      tokensPerS: m.tokensPerS,
      speedup: m.tokensPerS / full.tokensPerS,
      acceptanceRate: m.drafted > 0 ? m.accepted / m.drafted : 0,
      drafted: m.drafted,
      accepted: m.accepted,
      matchesFullDepth: m.answers.every((a, i) => sameTokens(a.tokens, full.answers[i]!.tokens)),
    }
  })
  const choice = chooseDraftExit(full.tokensPerS, exits)
  return {
    fullDepthTokensPerS: full.tokensPerS,
    decodedTokens: full.decoded,
    exits,
    chosenExit: choice.exit,
    beatsFullDepth: choice.beatsFullDepth,
    prompts: prompts.length,
    maxNewTokens,
    tries,
  }
}

function sameTokens(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i])
}
