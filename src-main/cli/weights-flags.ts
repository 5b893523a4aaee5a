/**
 * `--weights fp32|int8|int4 [--block-size 32|64|128]` as generate, eval and
 * eval-loss read them (eval also per side: `--weights-a`, `--weights-b`).
 */
import { QuantBlockSize, WeightPrecision, type WeightsRequest } from '../api/contract'
import { InsufficientMemoryError } from '../engine/generate/memory-estimate'
import { PrequantizedPrecisionError } from '../engine/generate/runtime'
import { UsageError } from './commands'

/**
 * The flags → the engine's weights request; undefined = the model's default
 * (fp32, or int4 for a GPTQ/AWQ folder). `flag` names the precision flag in
 * messages (`--weights`, `--weights-a`).
 */
export function parseWeights(weights: string | undefined, blockSize: string | undefined, flag = '--weights'): WeightsRequest | undefined {
  if (weights === undefined) {
    if (blockSize !== undefined) throw new UsageError(`--block-size applies to int8 and int4 weights only: give ${flag} int8 or int4 with it.`)
    return undefined
  }
  const precision = WeightPrecision.safeParse(weights)
  if (!precision.success) throw new UsageError(`${flag} must be one of ${WeightPrecision.options.join(', ')} (got "${weights}").`)
  if (blockSize === undefined) return { precision: precision.data }
  if (precision.data === 'fp32') throw new UsageError(`--block-size applies to int8 and int4 weights only (${flag} is fp32).`)
  const block = QuantBlockSize.safeParse(Number(blockSize))
  if (!/^\d+$/.test(blockSize) || !block.success) throw new UsageError(`--block-size must be 32, 64 or 128 (got "${blockSize}").`)
  return { precision: precision.data, blockSize: block.data }
}

/**
 * A model that would not open in the precision `flag` asked for, said in the
 * flag's terms: too big for the free memory (naming the `flag` value that
 * fits), or a GPTQ/AWQ folder given a precision other than its own int4.
 */
export function weightsOpenError(error: unknown, flag: string, value: string | undefined, modelDir: string): unknown {
  if (error instanceof InsufficientMemoryError) return new InsufficientMemoryError(error.estimate, error.availableBytes, error.fits, (p) => `pass ${flag} ${p}`)
  if (error instanceof PrequantizedPrecisionError) return new UsageError(`${flag} ${value}: ${modelDir}: ${error.message} (omit ${flag}, or pass ${flag} int4).`)
  return error
}
