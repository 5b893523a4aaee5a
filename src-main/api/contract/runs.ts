/**
 * Fine-tuning runs: requests, progress, checkpoints, estimates.
 * Part of the API contract (see index.ts).
 */
import { z } from 'zod'
import { Empty } from './common'
import { adapterMethods, tuningDefaults } from '../tuning-defaults'

export { adapterDefaults, adapterMethods, loraTargets, tuningDefaults, type AdapterMethod, type LoraTargetName, type TuningDefaults } from '../tuning-defaults'

export const TuneRequest = z
  .object({
    modelPath: z.string().min(1),
    dataPath: z.string().min(1),
    /** Folder for the tuned model (Hugging Face layout + sorted.json); must be empty or absent. */
    outDir: z.string().min(1),
    mode: z.enum(['soft', 'sortednet', 'sft']),
    /** all | 2,4,6 | every:N:from:M */
    exits: z.string().default(tuningDefaults.exits),
    epochs: z.number().positive().optional(),
    maxSteps: z.number().int().positive().optional(),
    batchSize: z.number().int().positive().default(tuningDefaults.batchSize),
    gradAccum: z.number().int().positive().default(tuningDefaults.gradAccum),
    lr: z.number().positive().default(tuningDefaults.lr),
    weightDecay: z.number().nonnegative().default(tuningDefaults.weightDecay),
    warmup: z.number().int().nonnegative().default(tuningDefaults.warmup),
    schedule: z.enum(['cosine', 'constant']).default(tuningDefaults.schedule),
    maxGradNorm: z.number().nonnegative().default(tuningDefaults.maxGradNorm),
    seqLen: z.number().int().min(2).default(tuningDefaults.seqLen),
    seed: z.number().int().default(tuningDefaults.seed),
    shuffle: z.boolean().default(tuningDefaults.shuffle),
    valSplit: z.number().min(0).lt(1).default(tuningDefaults.valSplit),
    onError: z.enum(['stop', 'skip']).default(tuningDefaults.onError),
    checkpointEvery: z.number().int().nonnegative().default(tuningDefaults.checkpointEvery),
    evalEvery: z.number().int().nonnegative().default(tuningDefaults.evalEvery),
    /** Train a low-rank adapter on the frozen base (absent: every weight trains); the lora* settings and trainNorm go with it. */
    adapter: z.enum(adapterMethods).optional(),
    /** QLoRA: values per block of the 4-bit base (32, 64 or 128; default 32). */
    blockSize: z.number().int().positive().optional(),
    /** LoRA's r, or DyLoRA's largest rank (default 16). */
    loraRank: z.number().int().positive().optional(),
    /** Scale numerator: the product is scaled by loraAlpha / rank (default 32). */
    loraAlpha: z.number().positive().optional(),
    /** Only 0 is supported. */
    loraDropout: z.number().min(0).lt(1).optional(),
    /** Comma-separated decoder linear layers: q,k,v,o,gate,up,down (the default). */
    loraTargets: z.string().optional(),
    /** Train the exits' shared final norm with the adapter. */
    trainNorm: z.boolean().optional(),
    /** Activation recomputation: on, off, or (auto, the default) on exactly when the step would not fit in memory without it. */
    recompute: z.enum(['auto', 'on', 'off']).optional(),
  })
  .strict()
  .refine((r) => r.epochs === undefined || r.maxSteps === undefined, { message: 'give epochs or maxSteps, not both' })
export type TuneRequest = z.input<typeof TuneRequest>

export const RunStatus = z.enum(['pending', 'running', 'paused', 'completed', 'failed', 'cancelled'])

export const RunSummary = z.object({
  id: z.string(),
  status: RunStatus,
  mode: z.enum(['soft', 'sortednet', 'sft']),
  modelId: z.string(),
  outputModelId: z.string().nullable(),
  totalSteps: z.number().int(),
  /** The step of the latest checkpoint: where a resume starts. */
  lastStep: z.number().int(),
  error: z.string().nullable(),
  createdAt: z.number(),
  request: z.record(z.string(), z.unknown()),
  /** The last step with a recorded training loss: how far the curve goes (it may pass lastStep after a crash). */
  stepsDone: z.number().int(),
})
export type RunSummary = z.infer<typeof RunSummary>

export const RunMetric = z.object({
  step: z.number().int(),
  exit: z.number().int().nullable(),
  split: z.enum(['train', 'validation']),
  loss: z.number().nullable(),
  lr: z.number().nullable(),
  tokensPerSecond: z.number().nullable(),
})

export const RunProgress = z.object({
  runId: z.string(),
  step: z.number().int(),
  totalSteps: z.number().int(),
  /** Training loss per exit at this step. */
  loss: z.record(z.string(), z.number()),
  lr: z.number(),
  tokensPerSecond: z.number(),
  etaSeconds: z.number(),
})
export type RunProgress = z.infer<typeof RunProgress>

export const RunStatusEvent = z.object({
  runId: z.string(),
  status: RunStatus,
  error: z.string().optional(),
  /** The tuned model's folder, once completed. */
  out: z.string().optional(),
})

const RunRef = z.object({ runId: z.string().min(1) }).strict()

export const RunValidationEvent = z.object({
  runId: z.string(),
  step: z.number().int(),
  /** Mean validation loss and perplexity per exit at this step. */
  loss: z.record(z.string(), z.number()),
  perplexity: z.record(z.string(), z.number()),
})
export type RunValidationEvent = z.infer<typeof RunValidationEvent>

export const RunCheckpointEvent = z.object({ runId: z.string(), step: z.number().int(), path: z.string() })

export const RunCheckpoint = z.object({
  step: z.number().int(),
  createdAt: z.number(),
  path: z.string(),
  /** Older checkpoints are removed as newer ones are written (the latest two are kept). */
  onDisk: z.boolean(),
})
export type RunCheckpoint = z.infer<typeof RunCheckpoint>

export const RunDetails = z.object({
  run: RunSummary,
  /** Every recorded figure: per step, per exit, train and validation (the curves). */
  metrics: z.array(RunMetric),
  checkpoints: z.array(RunCheckpoint),
  /** The tuned model's folder, once the run completed. */
  outputPath: z.string().nullable(),
})
export type RunDetails = z.infer<typeof RunDetails>

/** The memory planner's verdict on one training step (engine/train/memory-budget.ts). */
export const RunMemory = z.object({
  peakBytes: z.number(),
  /** This machine's physical memory, which the peak is held to. */
  availableBytes: z.number(),
  /** Whether the step recomputes its layers' activations (the request's recompute setting, auto resolved). */
  recompute: z.boolean(),
  fits: z.boolean(),
  /** When it does not fit: the largest batch, or the adapter, that would. */
  proposal: z.string().optional(),
  trainableParameters: z.number().int(),
  breakdown: z.object({
    weightBytes: z.number(),
    trainingStateBytes: z.number(),
    activationBytes: z.number(),
    arenaBytes: z.number(),
    runtimeBytes: z.number(),
  }),
})
export type RunMemory = z.infer<typeof RunMemory>

export const RunEstimate = z.object({
  steps: z.number().int(),
  /** Token positions per optimizer step (batch × seqLen × gradAccum, padding included). */
  tokensPerStep: z.number().int(),
  seconds: z.number(),
  memoryBytes: z.number(),
  trainRecords: z.number().int(),
  validationRecords: z.number().int(),
  parameters: z.number().int(),
  /** The predicted peak of a step (memoryBytes is its peakBytes). */
  memory: RunMemory,
  breakdown: z.object({
    trainFlops: z.number(),
    validationFlops: z.number(),
    flopsPerSecond: z.number(),
    parameterBytes: z.number(),
    gradientBytes: z.number(),
    optimizerBytes: z.number(),
    activationBytes: z.number(),
    attentionBytes: z.number(),
    logitBytes: z.number(),
  }),
})
export type RunEstimate = z.infer<typeof RunEstimate>

/**
 * A run as a PyTorch job folder (torchrun, DDP/FSDP): a finished or any stored
 * run by `runId`, or the wizard's request as it stands by `tune`; exactly one.
 */
export const ExportJobRequest = z
  .object({
    /** The job folder to write; must be new or empty. */
    jobDir: z.string().min(1),
    runId: z.string().min(1).optional(),
    tune: TuneRequest.optional(),
  })
  .strict()
  .refine((r) => (r.runId === undefined) !== (r.tune === undefined), { message: 'give runId or tune, exactly one' })
export type ExportJobRequest = z.input<typeof ExportJobRequest>

export const ExportedJob = z.object({
  jobDir: z.string(),
  /** Shell commands that run it: one process, one node (torchrun --nproc_per_node), several nodes. */
  commands: z.object({ single: z.string(), oneNode: z.string(), severalNodes: z.string() }),
  totalSteps: z.number().int(),
  trainRecords: z.number().int(),
  validationRecords: z.number().int(),
  warnings: z.array(z.string()),
})
export type ExportedJob = z.infer<typeof ExportedJob>

export const runsMethods = {
  /** Starts fine-tuning in a worker thread; progress as run.progress events. */
  'runs.start': { request: TuneRequest, response: z.object({ runId: z.string() }) },
  /** Stops a run at the next step boundary with a checkpoint; it can be resumed. */
  'runs.cancel': { request: RunRef, response: z.object({}) },
  /** Continues a paused or interrupted run from its latest checkpoint. */
  'runs.resume': { request: RunRef, response: z.object({}) },
  'runs.list': { request: Empty, response: z.object({ runs: z.array(RunSummary) }) },
  'runs.get': { request: RunRef, response: RunDetails },
  /** Time and memory a run would take, before starting it (an estimate; see engine/train/estimate.ts). outDir is not used. */
  'runs.estimate': { request: TuneRequest, response: RunEstimate },
  /** Writes the run as a self-contained PyTorch job folder (engine/train/job.ts) and returns the commands that run it. */
  'runs.exportJob': { request: ExportJobRequest, response: ExportedJob },
  /** Deletes a run that is not running, with its metrics and checkpoints; its tuned model stays unless deleteOutput. */
  'runs.remove': {
    request: RunRef.extend({ deleteOutput: z.boolean().default(false) }).strict(),
    response: z.object({ removedPaths: z.array(z.string()) }),
  },
} as const

export const runsEvents = {
  'run.progress': RunProgress,
  'run.status': RunStatusEvent,
  'run.validation': RunValidationEvent,
  'run.checkpoint': RunCheckpointEvent,
} as const
