/**
 * The PandaLM judge over any text generator, so it runs (and tests) without a
 * model. The caller passes a function that decodes the prompt with our engine.
 *
 * Decoding: PandaLM's defaults are beam search with 4 beams, repetition penalty
 * 1.2 and at most 512 new tokens; we decode greedily (1 beam) with repetition
 * penalty 1.2 and 512 new tokens. Only the first line (the verdict) is scored,
 * and greedy decoding keeps the judge deterministic and cheap.
 */
import { parseVerdict, pandalmPrompt } from './pandalm'
import type { JudgeTask, JudgeVerdict } from './pandalm'
import { combine } from './verdicts'
import type { Outcome } from './verdicts'

/** Generation settings the caller's `generate` is expected to use. */
export const PANDALM_DECODING = { greedy: true, repetitionPenalty: 1.2, maxNewTokens: 512 } as const

export interface ModelJudge {
  /** One order: the parsed verdict for `response1` vs `response2`. */
  judge(task: JudgeTask): Promise<JudgeVerdict>
  /** Both orders (A as response 1, then B as response 1), combined into A's outcome. */
  judgeBothOrders(task: { instruction: string; input?: string; a: string; b: string }): Promise<{ ab: JudgeVerdict; ba: JudgeVerdict; outcome: Outcome }>
}

/** `generate` returns the text after the prompt (the judge's continuation). */
export function createModelJudge(generate: (prompt: string) => Promise<string>): ModelJudge {
  const judge = async (task: JudgeTask): Promise<JudgeVerdict> => parseVerdict(await generate(pandalmPrompt(task)))
  return {
    judge,
    async judgeBothOrders({ instruction, input, a, b }) {
      const ab = await judge({ instruction, input, response1: a, response2: b })
      const ba = await judge({ instruction, input, response1: b, response2: a })
      return { ab, ba, outcome: combine(ab.verdict, ba.verdict) }
    },
  }
}
