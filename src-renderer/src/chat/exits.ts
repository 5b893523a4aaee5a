/**
 * What the budget slider and the exit tints show, computed from plain data
 * (no Vue): a reply's text cut into runs of tokens that left at one exit,
 * per-exit token counts, and the slider's stops with their measured speed
 * and quality.
 */
import type { ModelSummary } from '../../../src-main/api/contract'

export interface ExitRun {
  text: string
  exit: number
  /** Exact mode: drafted at a shallow exit and accepted by the full model (absent otherwise). */
  drafted?: true
}

/**
 * Consecutive tokens with the same exit joined into one run. `lengths` says
 * how many characters of `text` each token wrote (they may fall short of the
 * text's end, e.g. for an older message: the rest is one run at the last exit).
 * `drafted` holds the indexes of accepted drafts (Exact mode): they form runs of their own.
 */
export function exitRuns(text: string, exits: readonly number[], lengths: readonly number[], drafted: ReadonlySet<number> = new Set()): ExitRun[] {
  const runs: ExitRun[] = []
  let at = 0
  exits.forEach((exit, i) => {
    const length = lengths[i] ?? 0
    appendToRuns(runs, text.slice(at, at + length), exit, drafted.has(i))
    at += length
  })
  if (at < text.length) appendToRuns(runs, text.slice(at), exits.at(-1) ?? 0)
  return runs
}

/** Adds one token's text to `runs`: it extends the last run when the exit (and whether it was an accepted draft) is the same. */
export function appendToRuns(runs: ExitRun[], text: string, exit: number, drafted = false): void {
  if (!text) return
  const last = runs.at(-1)
  if (last && last.exit === exit && (last.drafted ?? false) === drafted) last.text += text
  else runs.push(drafted ? { text, exit, drafted } : { text, exit })
}

/** How many tokens each exit produced, deepest exit first. */
export function exitCounts(exits: readonly number[]): { exit: number; tokens: number }[] {
  const counts = new Map<number, number>()
  for (const exit of exits) counts.set(exit, (counts.get(exit) ?? 0) + 1)
  return [...counts].map(([exit, tokens]) => ({ exit, tokens })).sort((a, b) => b.exit - a.exit)
}

export interface SliderStop {
  exit: number
  /** e.g. "4 of 8 layers" */
  label: string
  /** Measured decode speed relative to the full model (1.0 = full), when known. */
  speedup: number | undefined
  /** A quality figure measured for this exit (ROUGE-L, else validation loss), when known. */
  quality: { name: string; value: number } | undefined
}

/** One stop per exit the model offers (every layer count for a plain model). */
export function sliderStops(model: Pick<ModelSummary, 'numLayers' | 'exits' | 'results'>): SliderStop[] {
  const exits = model.exits.length ? model.exits : Array.from({ length: model.numLayers }, (_, i) => i + 1)
  const full = model.results[String(model.numLayers)]?.decode_tokens_per_s
  return exits.map((exit) => {
    const results = model.results[String(exit)] ?? {}
    const speed = results.decode_tokens_per_s
    const quality =
      results.rouge_l !== undefined ? { name: 'ROUGE-L', value: results.rouge_l } : results.val_loss !== undefined ? { name: 'val loss', value: results.val_loss } : undefined
    return {
      exit,
      label: `${exit} of ${model.numLayers} layers`,
      speedup: speed !== undefined && full ? speed / full : undefined,
      quality,
    }
  })
}

/** A stop described in words, for the slider's aria-valuetext and its caption. */
export function describeStop(stop: SliderStop): string {
  const parts = [stop.label]
  if (stop.speedup !== undefined) parts.push(`${stop.speedup.toFixed(2)}× speed`)
  if (stop.quality) parts.push(`${stop.quality.name} ${stop.quality.value.toFixed(3)}`)
  return parts.join(', ')
}

/**
 * The tint of an exit: the full model is untinted, shallower exits get
 * stronger tints, so text from a cheaper sub-model stands out.
 */
export function exitTint(exit: number, numLayers: number): number {
  if (exit >= numLayers) return 0
  return Math.round((1 - exit / numLayers) * 100) / 100
}
