import { parseArgs } from 'node:util'
import { PromptError } from '../engine/generate/context'
import { ModelSession } from '../engine/generate/model-session'
import { fixedExit, parseBudgetSchedule } from '../engine/generate/schedule'
import type { SamplingOptions } from '../engine/generate/sampling'
import type { PromptInput } from '../engine/generate/prompt'
import { ExecutionProviderPreference, QuantBlockSize, WeightPrecision, type WeightsRequest } from '../api/contract'
import { UsageError, type Command } from './commands'
import { flagError, flagOf } from './flags'
import { numberOption, positiveInt } from './options'
import { adapterOptions, adapterUsage, withAdapter } from './adapter'

/** --weights and --block-size → the engine's weights request. */
function parseWeights(weights: string, blockSize: string | undefined): WeightsRequest {
  const precision = WeightPrecision.safeParse(weights)
  if (!precision.success) throw new UsageError(`--weights must be one of ${WeightPrecision.options.join(', ')} (got "${weights}").`)
  if (blockSize === undefined) return { precision: precision.data }
  if (precision.data === 'fp32') throw new UsageError('--block-size applies to int8 and int4 weights only (--weights is fp32).')
  const block = QuantBlockSize.safeParse(Number(blockSize))
  if (!/^\d+$/.test(blockSize) || !block.success) throw new UsageError(`--block-size must be 32, 64 or 128 (got "${blockSize}").`)
  return { precision: precision.data, blockSize: block.data }
}

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
  --weights P               fp32 (default) | int8 | int4: decoder linear layers block-quantized
                            (MatMulNBits; the LM head int8, the embedding fp32); fp32 where the
                            provider cannot run MatMulNBits, with the reason on stderr
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
        'max-new-tokens': { type: 'string', default: '128' },
        greedy: { type: 'boolean', default: false },
        temperature: { type: 'string' },
        'top-p': { type: 'string' },
        'top-k': { type: 'string' },
        'repetition-penalty': { type: 'string' },
        seed: { type: 'string' },
        stop: { type: 'string', multiple: true },
        provider: { type: 'string', default: 'cpu' },
        weights: { type: 'string', default: 'fp32' },
        'block-size': { type: 'string' },
        'cache-dir': { type: 'string' },
        json: { type: 'boolean', default: false },
        ...adapterOptions,
      },
    })
    if (!values.model) throw new UsageError('--model DIR is required.')
    if ((values.prompt === undefined) === (values['prompt-ids'] === undefined)) throw new UsageError('Give exactly one of --prompt and --prompt-ids.')
    if (values.exit !== undefined && values['budget-schedule'] !== undefined) throw new UsageError('Give --exit or --budget-schedule, not both.')
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
    const session = await ModelSession.open(
      values.model,
      {
        provider: provider.data,
        weights,
        ...(values['cache-dir'] ? { cacheDir: values['cache-dir'] } : {}),
        log: (m) => process.stderr.write(`${m}\n`),
      },
      adapterDir ? (config, base) => withAdapter(config, base, adapterDir, values['adapter-rank']) : undefined,
    )
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
            // The precision the model ran in: the one asked for, or fp32 with the reason.
            weights: session.info.weights.precision,
            ...(session.info.weights.blockSize ? { block_size: session.info.weights.blockSize, lm_head: session.info.weights.lmHead } : {}),
            ...(session.info.weightsFallbackReason ? { weights_fallback_reason: session.info.weightsFallbackReason } : {}),
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
