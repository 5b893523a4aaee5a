import { parseArgs } from 'node:util'
import { PromptError } from '../engine/generate/context'
import { ModelSession } from '../engine/generate/model-session'
import { fixedExit, parseBudgetSchedule } from '../engine/generate/schedule'
import type { SamplingOptions } from '../engine/generate/sampling'
import type { PromptInput } from '../engine/generate/prompt'
import { ExecutionProviderPreference } from '../api/contract'
import { UsageError, type Command } from './commands'
import { flagError, flagOf } from './flags'
import { numberOption, positiveInt } from './options'

function parseIds(text: string): number[] {
  const ids = text.split(',').map((s) => s.trim())
  const bad = ids.find((s) => !/^\d+$/.test(s))
  if (bad !== undefined) throw new UsageError(`${flagOf('promptIds')} must be comma-separated token ids (bad entry "${bad}").`)
  return ids.map(Number)
}

export const generateCommand: Command = {
  name: 'generate',
  summary: 'Generate text with a model at any exit, or a budget that changes mid-answer.',
  usage: `sorted generate --model DIR (--prompt TEXT | --prompt-ids 1,2,3) [options]

  --model DIR               a Hugging Face model folder (config.json + safetensors)
  --prompt TEXT             text prompt (needs the model's tokenizer.json)
  --prompt-ids 1,2,3        raw token ids (no tokenizer or template)
  --chat                    format --prompt with the model's chat template (Alpaca if none)
  --exit K                  layers to use, 1..L (default L, the full model)
  --budget-schedule S       e.g. "0:2,5:6": tokens 0-4 at exit 2, from token 5 at exit 6
  --max-new-tokens N        default 128; the answer also stops where the model's context ends
  --greedy                  greedy decoding (the default)
  --temperature T --top-p P --top-k K --repetition-penalty R --seed S
  --stop TEXT               stop when TEXT appears (repeatable)
  --provider ID             auto | cpu | cuda | dml | webgpu (default cpu)
  --json                    print one JSON object: tokens, text, exits, prefill_ms, decode_tokens_per_s`,
  async run(args) {
    const { values } = parseArgs({
      args,
      strict: true,
      options: {
        model: { type: 'string' },
        prompt: { type: 'string' },
        'prompt-ids': { type: 'string' },
        chat: { type: 'boolean', default: false },
        exit: { type: 'string' },
        'budget-schedule': { type: 'string' },
        'max-new-tokens': { type: 'string', default: '128' },
        greedy: { type: 'boolean', default: false },
        temperature: { type: 'string' },
        'top-p': { type: 'string' },
        'top-k': { type: 'string' },
        'repetition-penalty': { type: 'string' },
        seed: { type: 'string' },
        stop: { type: 'string', multiple: true },
        provider: { type: 'string', default: 'cpu' },
        json: { type: 'boolean', default: false },
      },
    })
    if (!values.model) throw new UsageError('--model DIR is required.')
    if ((values.prompt === undefined) === (values['prompt-ids'] === undefined)) throw new UsageError('Give exactly one of --prompt and --prompt-ids.')
    if (values.exit !== undefined && values['budget-schedule'] !== undefined) throw new UsageError('Give --exit or --budget-schedule, not both.')
    const provider = ExecutionProviderPreference.safeParse(values.provider)
    if (!provider.success) throw new UsageError(`--provider must be one of ${ExecutionProviderPreference.options.join(', ')}.`)
    const maxNewTokens = numberOption('max-new-tokens', values['max-new-tokens'], positiveInt, 'a positive whole number')!
    const exit = numberOption('exit', values.exit, positiveInt, 'a layer count, a positive whole number')
    const temperature = numberOption('temperature', values.temperature, (n) => n >= 0, 'a number ≥ 0')
    if (values.greedy && temperature) throw new UsageError('--greedy and --temperature contradict each other.')
    const sampling: SamplingOptions = {
      temperature: values.greedy ? 0 : (temperature ?? 0),
      ...(values['top-p'] !== undefined ? { topP: numberOption('top-p', values['top-p'], (n) => n > 0 && n <= 1, 'in (0, 1]')! } : {}),
      ...(values['top-k'] !== undefined ? { topK: numberOption('top-k', values['top-k'], positiveInt, 'a positive whole number')! } : {}),
      ...(values['repetition-penalty'] !== undefined
        ? { repetitionPenalty: numberOption('repetition-penalty', values['repetition-penalty'], (n) => n > 0, 'a number > 0')! }
        : {}),
      ...(values.seed !== undefined ? { seed: numberOption('seed', values.seed, Number.isInteger, 'a whole number')! } : {}),
    }
    const input: PromptInput = values['prompt-ids'] !== undefined ? { promptIds: parseIds(values['prompt-ids']) } : { prompt: values.prompt!, chat: values.chat }

    const session = await ModelSession.open(values.model, { provider: provider.data, log: (m) => process.stderr.write(`${m}\n`) })
    try {
      if ('prompt' in input && !session.info.hasTokenizer) {
        throw new UsageError(`${values.model} has no tokenizer (tokenizer.json): give the prompt as --prompt-ids.`)
      }
      const L = session.info.numLayers
      let exitAt
      const scheduled = values['budget-schedule']
      try {
        exitAt = scheduled !== undefined ? parseBudgetSchedule(scheduled, L) : fixedExit(exit ?? L, L)
      } catch (error) {
        throw flagError(scheduled !== undefined ? 'budgetSchedule' : 'exit', error)
      }
      let result
      try {
        result = await session.generate({
          input,
          maxNewTokens,
          exitAt,
          sampling,
          ...(values.stop ? { stopStrings: values.stop } : {}),
          ...(values.json ? {} : { onToken: (t) => process.stdout.write(t.text) }),
        })
      } catch (error) {
        // The prompt is checked before the first token: an id outside the vocabulary, more tokens than the context holds.
        if (error instanceof PromptError) throw new UsageError(`${flagOf('promptIds' in input ? 'promptIds' : 'prompt')}: ${error.message}.`)
        throw error
      }
      const decodeTokensPerSecond = result.tokens.length > 1 ? ((result.tokens.length - 1) / result.decodeMs) * 1000 : 0
      if (values.json) {
        process.stdout.write(
          `${JSON.stringify({
            tokens: result.tokens,
            text: result.text,
            exits: result.exits,
            prefill_ms: +result.prefillMs.toFixed(2),
            decode_tokens_per_s: +decodeTokensPerSecond.toFixed(2),
            finish_reason: result.finishReason,
            prompt_tokens: result.promptTokens,
          })}\n`,
        )
      } else {
        process.stdout.write('\n')
        process.stderr.write(
          `[${result.tokens.length} tokens, ${result.finishReason}; prefill ${result.prefillMs.toFixed(0)} ms, decode ${decodeTokensPerSecond.toFixed(1)} tokens/s]\n`,
        )
      }
      return 0
    } finally {
      await session.release()
    }
  },
}
