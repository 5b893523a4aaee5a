/**
 * The PandaLM judging protocol (WeOpenML/PandaLM, `pandalm/utils/pandalm_inference.py`):
 * the prompt the judge model was fine-tuned on, and the rule that reads its verdict.
 */

export interface JudgeTask {
  instruction: string
  /** Optional further context; empty or whitespace-only means "no input". */
  input?: string
  response1: string
  response2: string
}

/**
 * '1' the first response shown is better, '2' the second, or 'Tie'. The
 * contract's and the store's Verdict are checked equal to it
 * (services/engine-types.ts, services/store-types.ts).
 */
export type Verdict = '1' | '2' | 'Tie'

export interface JudgeVerdict {
  verdict: Verdict
  reason: string
  reference: string
}

// Special tokens PandaLM strips from responses before building the prompt (its `self.pattern`).
const SPECIAL_TOKENS = /<unk>|<pad>|<s>|<\/s>|\[PAD\]|<\|endoftext\|>|\[UNK\]|\[CLS\]|\[MASK\]|<\|startofpiece\|>|<\|endofpiece\|>|\[gMASK\]|\[sMASK\]/g

/** PandaLM cleans each response: trim, drop special tokens, trim again. */
function cleanResponse(text: string): string {
  return text.trim().replace(SPECIAL_TOKENS, '').trim()
}

/**
 * The PandaLM prompt, byte for byte as `build_pandalm_prompt` writes it (ending
 * "### Evaluation:\n"). Upstream tests `if input:` (Python truthiness); here a
 * whitespace-only input also counts as absent, which no test-set record has.
 */
export function pandalmPrompt({ instruction, input, response1, response2 }: JudgeTask): string {
  const responses = `### Response 1:\n${cleanResponse(response1)}\n\n### Response 2:\n${cleanResponse(response2)}`
  if (input !== undefined && input.trim() !== '') {
    return (
      'Below are two responses for a given task. The task is defined by the Instruction with an Input that provides further context. Evaluate the responses and generate a reference answer for the task.\n\n' +
      `### Instruction:\n${instruction}\n\n### Input:\n${input}\n\n${responses}\n\n### Evaluation:\n`
    )
  }
  return (
    'Below are two responses for a given task. The task is defined by the Instruction. Evaluate the responses and generate a reference answer for the task.\n\n' +
    `### Instruction:\n${instruction}\n\n${responses}\n\n### Evaluation:\n`
  )
}

const REASON = '### Reason:'
const REFERENCE = '### Reference:'

/**
 * Reads a PandaLM generation (the text after the prompt). The first line,
 * trimmed, is `1`, `2` or `tie` (any case); anything else counts as a tie, as
 * upstream's `parse_pandalm_response` does. Reason is the text between
 * `### Reason:` and `### Reference:`, reference the text after `### Reference:`.
 */
export function parseVerdict(generated: string): JudgeVerdict {
  const text = generated.trim()
  const first = (text.split('\n')[0] ?? '').trim()
  const verdict: Verdict = first === '1' || first === '2' ? first : 'Tie'

  const reasonAt = text.indexOf(REASON)
  const referenceAt = text.indexOf(REFERENCE, reasonAt === -1 ? 0 : reasonAt)
  const reason =
    reasonAt === -1 ? '' : text.slice(reasonAt + REASON.length, referenceAt === -1 ? undefined : referenceAt).trim()
  const reference = referenceAt === -1 ? '' : text.slice(referenceAt + REFERENCE.length).trim()
  return { verdict, reason, reference }
}
