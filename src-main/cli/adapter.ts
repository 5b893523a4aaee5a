/**
 * `--adapter DIR [--adapter-rank b]` as generate and eval-loss read them: a
 * PEFT LoRA adapter merged into the base model's fp32 weights at load (at
 * rank b for a DyLoRA adapter's nested adapter). Merging once costs one
 * pass over the adapted layers and leaves inference exactly as fast as the
 * base model's.
 */
import { mergedWeights, readPeftAdapter } from '../engine/model/peft-adapter'
import type { ModelConfig, ModelWeights } from '../engine/model/types'
import { UsageError } from './commands'
import { numberOption, positiveInt } from './options'

export const adapterOptions = {
  adapter: { type: 'string' },
  'adapter-rank': { type: 'string' },
} as const

export const adapterUsage = `  --adapter DIR             a PEFT LoRA adapter folder (sorted tune --adapter …) to apply to --model;
                            merged into the fp32 weights at load
  --adapter-rank B          a DyLoRA adapter's rank to use, 1..r (default r)`

/** The weights to run: the base's, or with the adapter merged in; undefined rank flags without --adapter are refused. */
export function withAdapter(config: ModelConfig, weights: ModelWeights, adapterDir: string | undefined, rankText: string | undefined): ModelWeights {
  const rank = numberOption('adapter-rank', rankText, positiveInt, 'a positive whole number')
  if (!adapterDir) {
    if (rank !== undefined) throw new UsageError('--adapter-rank only goes with --adapter.')
    return weights
  }
  const adapter = readPeftAdapter(adapterDir, config)
  if (rank !== undefined && rank > adapter.spec.rank) throw new UsageError(`--adapter-rank ${rank} is above the adapter's r ${adapter.spec.rank} (${adapterDir}).`)
  return mergedWeights(config, weights, adapter, rank)
}
