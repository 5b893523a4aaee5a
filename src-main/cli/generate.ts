import { parseArgs } from 'node:util'
import { PromptError } from '../engine/generate/context'
import { ModelSession } from '../engine/generate/model-session'
import { fixedExit, parseBudgetSchedule } from '../engine/generate/schedule'
import type { SamplingOptions } from '../engine/generate/sampling'
import type { Depth } from '../engine/generate/generate'
import type { PromptInput } from '../engine/generate/prompt'
import { ExecutionProviderPreference } from '../api/contract'
import { UsageError, type Command } from './commands'
import { flagError, flagOf } from './flags'
import { numberOption, positiveInt } from './options'
import { adapterOptions, adapterUsage, withAdapter } from './adapter'
import { parseWeights, weightsOpenError } from './weights-flags'

/** The longest draft --draft-tokens takes: more is never accepted in practice, and each costs a shallow pass. */
const MAX_DRAFT_TOKENS = 64

/** A flag that takes a number or the word auto. */
function autoOr(name: string, text: string | undefined, check: (n: number) => boolean, rule: string): number | 'auto' | undefined {
  if (text === 'auto') return 'auto'
  return numberOption(name, text, check, rule)
}

function parseIds(text: string): number[] {
  const ids = text.split(',').map((s) => s.trim())
  const bad = ids.find((s) => !/^\d+$/.test(s))
  if (bad !== undefined) throw new UsageError(`${flagOf('promptIds')} must be comma-separated token ids (bad entry "${bad}").`)
  return ids.map(Number)
}

export const generateCommand: Command = {
  name: 'generate',
  summary: 'Generate text with a model at any exit, a budget that changes mid-answer, or in Exact (self-speculative) mode.',
  usage: `sorted generate --model DIR (--prompt TEXT | --prompt-ids 1,2,3) [options]

  --model DIR               a Hugging Face model folder (config.json + safetensors)
  --prompt TEXT             text prompt (needs the model's tokenizer.json)
  --prompt-ids 1,2,3        raw token ids (no tokenizer or template)
  --chat                    format --prompt with the model's chat template (Alpaca if none)
  --exit K                  layers to use, 1..L (default L, the full model)
  --budget-schedule S       e.g. "0:2,5:6": tokens 0-4 at exit 2, from token 5 at exit 6
  --speculative             Exact mode: the full model's tokens (greedy: identical to --exit L),
                            drafted at a shallow exit and verified in one pass (self-speculative)
  --draft-exit E|auto       the exit that drafts, 1..L-1 (default auto: sorted.json's draft_exit,
                            else the exit nearest L/4)
  --draft-tokens K|auto     tokens per draft, 1..64 (default auto: up to 8, stopping when unsure)
  --auto-exit TAU           Auto mode: per token, the first exit (of the model's exits) whose top
                            token probability is ≥ TAU (0..1), else the full model
  --max-new-tokens N        default 128; the answer also stops where the model's context ends
  --greedy                  greedy decoding (the default)
  --temperature T --top-p P --top-k K --repetition-penalty R --seed S
  --stop TEXT               stop when TEXT appears (repeatable)
  --provider ID             auto | cpu | cuda | dml | webgpu (default cpu)
  --weights P               fp32 (default) | int8 | int4: decoder linear layers block-quantized
                            (MatMulNBits; the LM head int8, the embedding fp32); fp32 where the
                            provider cannot run MatMulNBits, with the reason on stderr.
                            A GPTQ/AWQ folder (quantization_config) runs int4 in its own packing
                            and refuses any other --weights
  --block-size B            32 (default) | 64 | 128: weights per quantization block
  --cache-dir DIR           keep compiled (and quantized) graphs in DIR for later runs
${adapterUsage}
  --json                    print one JSON object: tokens, text, exits, prefill_ms, decode_tokens_per_s, weights`,
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
        speculative: { type: 'boolean', default: false },
        'auto-exit': { type: 'string' },
        'draft-exit': { type: 'string' },
        'draft-tokens': { type: 'string' },
        'max-new-tokens': { type: 'string', default: '128' },
        greedy: { type: 'boolean', default: false },
        temperature: { type: 'string' },
        'top-p': { type: 'string' },
        'top-k': { type: 'string' },
        'repetition-penalty': { type: 'string' },
        seed: { type: 'string' },
        stop: { type: 'string', multiple: true },
        provider: { type: 'string', default: 'cpu' },
        weights: { type: 'string' },
        'block-size': { type: 'string' },
        'cache-dir': { type: 'string' },
        json: { type: 'boolean', default: false },
        ...adapterOptions,
      },
    })
    if (!values.model) throw new UsageError('--model DIR is required.')
    if ((values.prompt === undefined) === (values['prompt-ids'] === undefined)) throw new UsageError('Give exactly one of --prompt and --prompt-ids.')
    if (values.exit !== undefined && values['budget-schedule'] !== undefined) throw new UsageError('Give --exit or --budget-schedule, not both.')
    if (values.speculative && (values.exit !== undefined || values['budget-schedule'] !== undefined)) {
      throw new UsageError('--speculative decodes at full depth: give it without --exit and --budget-schedule.')
    }
    const autoTau = numberOption('auto-exit', values['auto-exit'], (n) => n >= 0 && n <= 1, 'a probability threshold in 0..1')
    if (autoTau !== undefined && (values.speculative || values.exit !== undefined || values['budget-schedule'] !== undefined)) {
      throw new UsageError('--auto-exit chooses the exit per token: give it without --exit, --budget-schedule and --speculative.')
    }
    if (!values.speculative && (values['draft-exit'] !== undefined || values['draft-tokens'] !== undefined)) {
      throw new UsageError('--draft-exit and --draft-tokens apply to --speculative only.')
    }
    const draftExitFlag = autoOr('draft-exit', values['draft-exit'], positiveInt, 'a layer count, a positive whole number, or auto')
    const draftTokens = autoOr('draft-tokens', values['draft-tokens'], (n) => positiveInt(n) && n <= MAX_DRAFT_TOKENS, `a whole number in 1..${MAX_DRAFT_TOKENS}, or auto`)
    const provider = ExecutionProviderPreference.safeParse(values.provider)
    if (!provider.success) throw new UsageError(`--provider must be one of ${ExecutionProviderPreference.options.join(', ')}.`)
    const weights = parseWeights(values.weights, values['block-size'])
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

    if (values.adapter === undefined && values['adapter-rank'] !== undefined) throw new UsageError('--adapter-rank only goes with --adapter.')
    const adapterDir = values.adapter
    const loadStarted = performance.now()
    const session = await ModelSession.open(
      values.model,
      {
        provider: provider.data,
        ...(weights ? { weights } : {}),
        ...(values['cache-dir'] ? { cacheDir: values['cache-dir'] } : {}),
        log: (m) => process.stderr.write(`${m}\n`),
      },
      adapterDir ? (config, base) => withAdapter(config, base, adapterDir, values['adapter-rank']) : undefined,
    ).catch((error: unknown) => {
      throw weightsOpenError(error, '--weights', values.weights, values.model!)
    })
    const loadMs = performance.now() - loadStarted
    try {
      if ('prompt' in input && !session.info.hasTokenizer) {
        throw new UsageError(`${values.model} has no tokenizer (tokenizer.json): give the prompt as --prompt-ids.`)
      }
      const L = session.info.numLayers
      let exitAt: (index: number) => Depth
      const scheduled = values['budget-schedule']
      try {
        exitAt = values.speculative ? () => 'exact' : autoTau !== undefined ? () => ({ auto: autoTau }) : scheduled !== undefined ? parseBudgetSchedule(scheduled, L) : fixedExit(exit ?? L, L)
      } catch (error) {
        throw flagError(scheduled !== undefined ? 'budgetSchedule' : 'exit', error)
      }
      if (typeof draftExitFlag === 'number' && draftExitFlag >= L) throw new UsageError(`--draft-exit must be below the model's ${L} layers (got ${draftExitFlag}).`)
      if (values.speculative && L < 2) throw new UsageError(`--speculative needs a model of at least 2 layers to draft with (${values.model} has 1).`)
      const draftExit = typeof draftExitFlag === 'number' ? draftExitFlag : session.defaultDraftExit
      let result
      try {
        result = await session.generate({
          input,
          maxNewTokens,
          exitAt,
          speculative: { draftExit, draftTokens: draftTokens ?? 'auto' },
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
            load_ms: +loadMs.toFixed(1),
            prefill_ms: +result.prefillMs.toFixed(2),
            decode_tokens_per_s: +decodeTokensPerSecond.toFixed(2),
            finish_reason: result.finishReason,
            mode: values.speculative ? 'exact' : autoTau !== undefined ? 'auto' : 'exit',
            ...(autoTau !== undefined ? { auto_tau: autoTau, mean_exit: +(result.exits.reduce((a, b) => a + b, 0) / Math.max(1, result.exits.length)).toFixed(3) } : {}),
            ...(values.speculative
              ? {
                  draft_exit: draftExit,
                  drafted: result.drafted,
                  accepted: result.accepted,
                  acceptance_rate: result.drafted ? +(result.accepted / result.drafted).toFixed(4) : 0,
                }
              : {}),
            prompt_tokens: result.promptTokens,
            // The precision the model ran in: the one asked for, or fp32 with the reason.
            weights: session.info.weights.precision,
            ...(session.info.weights.blockSize ? { block_size: session.info.weights.blockSize, lm_head: session.info.weights.lmHead } : {}),
            ...(session.info.weightsFallbackReason ? { weights_fallback_reason: session.info.weightsFallbackReason } : {}),
          })}\n`,
        )
      } else {
        process.stdout.write('\n')
        const acceptance = values.speculative ? `; drafted at exit ${draftExit}, accepted ${result.accepted}/${result.drafted}` : ''
        process.stderr.write(
          `[${result.tokens.length} tokens, ${result.finishReason}; prefill ${result.prefillMs.toFixed(0)} ms, decode ${decodeTokensPerSecond.toFixed(1)} tokens/s${acceptance}]\n`,
        )
      }
      return 0
    } finally {
      await session.release()
    }
  },
}
