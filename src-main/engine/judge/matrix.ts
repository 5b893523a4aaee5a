/**
 * Tables and plots over judged outcomes: the comparison matrix (the PandaLM
 * paper's Table 4 shape, one row per "A vs B" with W/L/T and score) and the
 * quality-vs-speed curve over early exits.
 */
import type { Contender } from './contender'
import { tally } from './verdicts'
import type { Outcome, Tally } from './verdicts'

export interface JudgedPair {
  a: Contender
  b: Contender
  outcomes: readonly Outcome[]
}

export interface MatrixRow extends Tally {
  a: Contender
  b: Contender
  /** e.g. "exit 8 of tiny vs tiny" */
  label: string
}

export function contenderLabel({ modelPath, exit }: Contender): string {
  return exit === undefined ? modelPath : `exit ${exit} of ${modelPath}`
}

/**
 * One row per judged (A, B) pair, in the given order; pairs with the same
 * labels are merged (their outcomes pooled).
 */
export function comparisonMatrix(pairs: readonly JudgedPair[]): MatrixRow[] {
  const byLabel = new Map<string, { a: Contender; b: Contender; outcomes: Outcome[] }>()
  for (const { a, b, outcomes } of pairs) {
    const label = `${contenderLabel(a)} vs ${contenderLabel(b)}`
    const entry = byLabel.get(label)
    if (entry) entry.outcomes.push(...outcomes)
    else byLabel.set(label, { a, b, outcomes: [...outcomes] })
  }
  return [...byLabel].map(([label, { a, b, outcomes }]) => ({ a, b, label, ...tally(outcomes) }))
}

export interface ExitPoint {
  exit: number
  /** PandaLM score of this exit against the reference contender, in [−1, 1]. */
  score: number
  tokensPerSecond: number
}

/** Plot-ready points (x: exit, with score and speed), sorted by exit; the input is not mutated. */
export function qualityVsSpeed(perExit: readonly ExitPoint[]): ExitPoint[] {
  return [...perExit].sort((p, q) => p.exit - q.exit).map((p) => ({ exit: p.exit, score: p.score, tokensPerSecond: p.tokensPerSecond }))
}
