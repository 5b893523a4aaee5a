/**
 * What each weight precision would take and give for a model, before it is
 * loaded: weight memory computed from its config (engine/model/weight-size.ts)
 * and the decode speed-up the decode bench measured.
 */
import type { PrecisionEstimate } from '../api/contract'
import type { ModelConfig } from '../engine/model/types'
import { MEASURED_DECODE_SPEEDUP, weightBytes } from '../engine/model/weight-size'

export function precisionEstimates(config: ModelConfig): PrecisionEstimate[] {
  return (['fp32', 'int8', 'int4'] as const).map((precision) => ({
    precision,
    memoryBytes: weightBytes(config, precision),
    measuredSpeedup: MEASURED_DECODE_SPEEDUP[precision],
  }))
}
