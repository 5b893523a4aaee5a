/**
 * The engine owns the types it produces (providers, dataset previews,
 * contenders, verdicts, tuning requests); the API contract declares the same
 * shapes as zod schemas, because the contract depends on zod only (the
 * renderer type-checks against it without the engine). These compile-time
 * checks keep the two identical: a field added, renamed or retyped on one
 * side and not the other fails the type check. Nothing here runs.
 */
import type * as contract from '../api/contract'
import type * as contender from '../engine/judge/contender'
import type * as pandalm from '../engine/judge/pandalm'
import type * as preview from '../engine/train/dataset-preview'
import type * as tuneJob from '../engine/train/tune-job'
import type * as jobExport from '../engine/train/job-export'
import type * as memoryBudget from '../engine/train/memory-budget'
import type * as providers from '../engine/onnx/providers'
import type * as quant from '../engine/model/quant/linear'
import type * as weights from '../engine/model/weight-format'
import type * as modes from '../engine/generate/modes'
import type * as peft from '../engine/model/peft-adapter'
import type * as draftCalibration from '../engine/generate/draft-calibration'

/** True only when A and B are the same type (not merely assignable either way). */
export type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
/** Compiles only when given `true`. */
export type Holds<T extends true> = T

export type EngineTypesMatchContract = [
  Holds<Same<providers.ExecutionProviderPreference, contract.ExecutionProviderPreference>>,
  Holds<Same<providers.ProviderStatus, contract.ProviderStatus>>,
  Holds<Same<preview.DatasetProblem, contract.DatasetProblem>>,
  Holds<Same<preview.PreviewRecord, contract.PreviewRecord>>,
  Holds<Same<preview.DatasetStatistics, contract.DatasetStatistics>>,
  Holds<Same<preview.DatasetPreview, contract.DatasetPreview>>,
  Holds<Same<contender.Contender, contract.Contender>>,
  Holds<Same<contender.ContenderMode, contract.ContenderMode>>,
  Holds<Same<pandalm.Verdict, contract.Verdict>>,
  Holds<Same<jobExport.ExportedJob, contract.ExportedJob>>,
  Holds<Same<memoryBudget.RunMemory, contract.RunMemory>>,
  // The contract's request, its defaults filled in, is the engine's job less
  // the execution provider, which the app's setting supplies.
  Holds<Same<Omit<tuneJob.TuneRequest, 'provider'>, contract.MethodParams<'runs.start'>>>,
  Holds<Same<quant.QuantizationSettings, contract.WeightsRequest>>,
  Holds<Same<draftCalibration.DraftCalibration, contract.DraftCalibration>>,
  Holds<Same<draftCalibration.DraftExitMeasurement, contract.DraftExitMeasurement>>,
  Holds<Same<weights.WeightsInfo, contract.LoadedWeights>>,
  Holds<Same<modes.DecodingMode, contract.DecodingMode>>,
  Holds<Same<peft.AppliedAdapter, contract.AppliedAdapter>>,
]
