/**
 * Combining the two response orders of a pairwise judgement, and tallying
 * outcomes the way the PandaLM paper reports them (fractional wins allowed).
 */
import type { Verdict } from './pandalm'

/** Contender A's outcome over one pair: fractions summing to 1. */
export interface Outcome {
  win: number
  loss: number
  tie: number
}

type Side = 'win' | 'loss' | 'tie'

/** A's side of one verdict; `aIsResponse1` says which slot A held. */
function sideOfA(verdict: Verdict, aIsResponse1: boolean): Side {
  if (verdict === 'Tie') return 'tie'
  return (verdict === '1') === aIsResponse1 ? 'win' : 'loss'
}

/**
 * The outcome for A given `ab` (A was response 1) and `ba` (B was response 1,
 * so '1' means B won). Each order carries half the weight: agreement gives a
 * full win/loss/tie, disagreement half of each side.
 */
export function combine(ab: Verdict, ba: Verdict): Outcome {
  const outcome: Outcome = { win: 0, loss: 0, tie: 0 }
  outcome[sideOfA(ab, true)] += 0.5
  outcome[sideOfA(ba, false)] += 0.5
  return outcome
}

export interface Tally {
  wins: number
  losses: number
  ties: number
  n: number
  /** (wins − losses) / n, in [−1, 1]; 0 when n is 0. */
  score: number
}

export function tally(outcomes: readonly Outcome[]): Tally {
  let wins = 0
  let losses = 0
  let ties = 0
  for (const o of outcomes) {
    wins += o.win
    losses += o.loss
    ties += o.tie
  }
  const n = outcomes.length
  return { wins, losses, ties, n, score: n === 0 ? 0 : (wins - losses) / n }
}
