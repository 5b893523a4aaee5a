/**
 * A deterministic judge for sets that carry reference answers: whichever
 * response has the higher ROUGE-L F1 against the reference wins, unless the
 * two are within TIE_MARGIN of each other.
 */
import type { JudgeVerdict } from './pandalm'
import { rougeL } from './rouge'

/**
 * Absolute ROUGE-L F1 difference treated as a tie. 0.05 because:
 * - paraphrases of the same answer routinely differ by a few hundredths of
 *   ROUGE-L against one reference (a swapped word order or one synonym in a
 *   20-token answer moves LCS F1 by ~0.05), so smaller gaps are wording noise,
 *   not quality;
 * - short answers are coarse: one token of a 10–20-token answer is worth
 *   0.05–0.1 F1, so a 0.05 margin still separates answers that differ by a
 *   content word, while one-word answers (F1 0 or 1) are never tied wrongly.
 */
export const TIE_MARGIN = 0.05

export interface ReferenceTask {
  response1: string
  response2: string
  reference: string
}

/**
 * PandaLM-shaped verdict from ROUGE-L. Symmetric by construction: swapping the
 * responses swaps '1' and '2' and keeps 'Tie', so both orders always agree.
 */
export function referenceJudge({ response1, response2, reference }: ReferenceTask, margin = TIE_MARGIN): JudgeVerdict {
  const f1 = rougeL(response1, reference).f1
  const f2 = rougeL(response2, reference).f1
  const verdict = Math.abs(f1 - f2) <= margin ? 'Tie' : f1 > f2 ? '1' : '2'
  return { verdict, reason: `ROUGE-L ${f1.toFixed(2)} vs ${f2.toFixed(2)}`, reference }
}
