/**
 * A draft-exit calibration as sorted.json keeps it: `draft_exit` (which
 * ModelSession reads as Exact's default draft exit) and `draft_calibration`,
 * the figures it was chosen from, in sorted.json's snake_case.
 */
import type { WeightsInfo } from '../model/weight-format'
import { updateSortedFile } from '../model/sorted-file'
import type { DraftCalibration } from './draft-calibration'

export interface DraftCalibrationRecord {
  draft_exit: number
  draft_calibration: {
    /** When it was measured (ISO 8601, UTC). */
    date: string
    /** The weight precision it was measured in (and the block size when quantized). */
    precision: WeightsInfo['precision']
    block_size?: number
    full_depth_tokens_per_s: number
    beats_full_depth: boolean
    prompts: number
    max_new_tokens: number
    tries: number
    /** Per draft exit (keyed like sorted.json's `results`). */
    exits: Record<string, { tokens_per_s: number; speedup: number; acceptance_rate: number }>
  }
}

const round = (x: number, digits: number) => +x.toFixed(digits)

export function draftCalibrationRecord(calibration: DraftCalibration, weights: WeightsInfo, date: Date): DraftCalibrationRecord {
  return {
    draft_exit: calibration.chosenExit,
    draft_calibration: {
      date: date.toISOString(),
      precision: weights.precision,
      ...(weights.blockSize ? { block_size: weights.blockSize } : {}),
      full_depth_tokens_per_s: round(calibration.fullDepthTokensPerS, 1),
      beats_full_depth: calibration.beatsFullDepth,
      prompts: calibration.prompts,
      max_new_tokens: calibration.maxNewTokens,
      tries: calibration.tries,
      exits: Object.fromEntries(
        calibration.exits.map((m) => [String(m.exit), { tokens_per_s: round(m.tokensPerS, 1), speedup: round(m.speedup, 3), acceptance_rate: round(m.acceptanceRate, 3) }]),
      ),
    },
  }
}

/** Writes the record into `dir`/sorted.json (every other field kept; atomic). Returns the file's path. */
export function writeDraftCalibration(dir: string, numLayers: number, record: DraftCalibrationRecord): string {
  return updateSortedFile(dir, numLayers, { ...record })
}
