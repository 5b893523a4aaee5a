/**
 * The API contract: every method the UI can call and every event the backend
 * pushes, as zod schemas with their inferred types. Electron IPC and browser
 * mode (WebSocket) are two transports of exactly this contract, so a method
 * added here works in both.
 *
 * This module depends on nothing but zod: the renderer imports its types, and
 * both transports validate every message with its schemas.
 */
import { z } from 'zod'

// ---------------------------------------------------------------- settings

export const executionProviderIds = ['auto', 'cpu', 'cuda', 'dml', 'webgpu'] as const
export const ExecutionProviderPreference = z.enum(executionProviderIds)
export type ExecutionProviderPreference = z.infer<typeof ExecutionProviderPreference>

export const Theme = z.enum(['system', 'light', 'dark'])
export type Theme = z.infer<typeof Theme>

export const Settings = z.object({
  /** Which ONNX Runtime execution provider the engine should try first. */
  executionProvider: ExecutionProviderPreference,
  theme: Theme,
})
export type Settings = z.infer<typeof Settings>

export const defaultSettings: Settings = { executionProvider: 'auto', theme: 'system' }

/** A partial update; unknown keys are an error, so typos do not vanish silently. */
export const SettingsPatch = Settings.partial().strict()
export type SettingsPatch = z.infer<typeof SettingsPatch>

// ---------------------------------------------------------------- system

export const ProviderStatus = z.object({
  id: ExecutionProviderPreference.exclude(['auto']),
  label: z.string(),
  /** True when this build of ONNX Runtime can use the provider on this machine. */
  available: z.boolean(),
  /** Why it is unavailable, or how to enable it; empty when available. */
  note: z.string(),
})
export type ProviderStatus = z.infer<typeof ProviderStatus>

export const AppInfo = z.object({
  name: z.string(),
  version: z.string(),
  /** `electron` in the desktop window, `browser` when served over HTTP. */
  transport: z.enum(['electron', 'browser']),
  platform: z.string(),
  /** Where the database and model cache live. */
  dataDir: z.string(),
  databasePath: z.string(),
  schemaVersion: z.number().int(),
  providers: z.array(ProviderStatus),
})
export type AppInfo = z.infer<typeof AppInfo>

// ---------------------------------------------------------------- engine

export const LoadedModelInfo = z.object({
  path: z.string(),
  name: z.string(),
  architecture: z.string(),
  numLayers: z.number().int().positive(),
  /** Exits (layer counts) the budget slider offers, ascending; the last is numLayers. */
  exits: z.array(z.number().int().positive()),
  hasTokenizer: z.boolean(),
  hasChatTemplate: z.boolean(),
  /** The execution provider the model runs on, and why it is not the one asked for. */
  provider: z.string(),
  fallbackReason: z.string().optional(),
})
export type LoadedModelInfo = z.infer<typeof LoadedModelInfo>

export const EngineStatus = z.object({
  state: z.enum(['empty', 'loading', 'ready', 'error']),
  model: LoadedModelInfo.optional(),
  /** While loading: 0..1 and what is happening. */
  progress: z.number().min(0).max(1).optional(),
  message: z.string().optional(),
  error: z.string().optional(),
})
export type EngineStatus = z.infer<typeof EngineStatus>

export const ChatMessage = z.object({ role: z.enum(['system', 'user', 'assistant']), content: z.string() })
export type ChatMessage = z.infer<typeof ChatMessage>

export const Sampling = z
  .object({
    /** 0 = greedy. */
    temperature: z.number().min(0).max(10).default(0),
    topK: z.number().int().positive().optional(),
    topP: z.number().gt(0).max(1).optional(),
    repetitionPenalty: z.number().positive().optional(),
    seed: z.number().int().optional(),
  })
  .strict()
export type Sampling = z.infer<typeof Sampling>

export const GenerateRequest = z
  .object({
    /** Exactly one of prompt, promptIds and messages. */
    prompt: z.string().optional(),
    promptIds: z.array(z.number().int().nonnegative()).min(1).optional(),
    messages: z.array(ChatMessage).min(1).optional(),
    /** Starting exit (layer count); default the full model. Change it mid-answer with engine.setExit. */
    exit: z.number().int().positive().optional(),
    maxNewTokens: z.number().int().positive().max(8192).default(256),
    sampling: Sampling.default({ temperature: 0 }),
    stopStrings: z.array(z.string().min(1)).max(16).default([]),
  })
  .strict()
  .refine((r) => [r.prompt, r.promptIds, r.messages].filter((x) => x !== undefined).length === 1, {
    message: 'give exactly one of prompt, promptIds and messages',
  })
export type GenerateRequest = z.input<typeof GenerateRequest>

export const GenerationToken = z.object({
  generationId: z.string(),
  index: z.number().int().nonnegative(),
  id: z.number().int().nonnegative(),
  text: z.string(),
  /** The exit (layer count) that produced this token. */
  exit: z.number().int().positive(),
})
export type GenerationToken = z.infer<typeof GenerationToken>

export const GenerationDone = z.object({
  generationId: z.string(),
  finishReason: z.enum(['eos', 'stop', 'length', 'cancelled', 'error']),
  text: z.string(),
  tokens: z.array(z.number().int()),
  exits: z.array(z.number().int()),
  promptTokens: z.number().int().nonnegative(),
  prefillMs: z.number().nonnegative(),
  decodeTokensPerSecond: z.number().nonnegative(),
  error: z.string().optional(),
})
export type GenerationDone = z.infer<typeof GenerationDone>

const GenerationRef = z.object({ generationId: z.string().min(1) }).strict()

// ---------------------------------------------------------------- runs (fine-tuning)

export const TuneRequest = z
  .object({
    modelPath: z.string().min(1),
    dataPath: z.string().min(1),
    /** Folder for the tuned model (Hugging Face layout + sorted.json); must be empty or absent. */
    outDir: z.string().min(1),
    mode: z.enum(['soft', 'sortednet', 'sft']),
    /** all | 2,4,6 | every:N:from:M */
    exits: z.string().default('all'),
    epochs: z.number().positive().optional(),
    maxSteps: z.number().int().positive().optional(),
    batchSize: z.number().int().positive().default(4),
    gradAccum: z.number().int().positive().default(1),
    lr: z.number().positive().default(1e-4),
    weightDecay: z.number().nonnegative().default(0.01),
    warmup: z.number().int().nonnegative().default(0),
    schedule: z.enum(['cosine', 'constant']).default('cosine'),
    maxGradNorm: z.number().nonnegative().default(1),
    seqLen: z.number().int().min(2).default(512),
    seed: z.number().int().default(42),
    shuffle: z.boolean().default(true),
    valSplit: z.number().min(0).lt(1).default(0.05),
    onError: z.enum(['stop', 'skip']).default('stop'),
    checkpointEvery: z.number().int().nonnegative().default(50),
    evalEvery: z.number().int().nonnegative().default(0),
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

export const RunEstimate = z.object({
  steps: z.number().int(),
  /** Token positions per optimizer step (batch × seqLen × gradAccum, padding included). */
  tokensPerStep: z.number().int(),
  seconds: z.number(),
  memoryBytes: z.number(),
  trainRecords: z.number().int(),
  validationRecords: z.number().int(),
  parameters: z.number().int(),
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

// ---------------------------------------------------------------- models and datasets for tuning

export const DatasetPreviewRequest = z
  .object({
    modelPath: z.string().min(1),
    dataPath: z.string().min(1),
    seqLen: z.number().int().min(2).default(512),
    /** How many records to show formatted. */
    limit: z.number().int().min(0).max(50).default(5),
  })
  .strict()
export type DatasetPreviewRequest = z.input<typeof DatasetPreviewRequest>

export const DatasetProblem = z.object({
  /** 1-based line (JSONL, or a JSON file that does not parse); null otherwise. */
  line: z.number().int().nullable(),
  /** 0-based position in a JSON array; null otherwise. */
  index: z.number().int().nullable(),
  /** The field as a path, e.g. `conversations[2].value`; null when the record as a whole is wrong. */
  field: z.string().nullable(),
  message: z.string(),
})
export type DatasetProblem = z.infer<typeof DatasetProblem>

export const PreviewSegment = z.object({
  text: z.string(),
  /** The loss is taken on these tokens (the response); false for context (prompt, template). */
  trained: z.boolean(),
  tokens: z.number().int(),
})

export const PreviewRecord = z.object({
  line: z.number().int().nullable(),
  index: z.number().int().nullable(),
  /** Tokens after truncation to seqLen. */
  tokens: z.number().int(),
  segments: z.array(PreviewSegment),
})
export type PreviewRecord = z.infer<typeof PreviewRecord>

export const DatasetStatistics = z.object({
  /** Records that will be trained on. */
  records: z.number().int(),
  tokens: z.number().int(),
  meanTokens: z.number(),
  maxTokens: z.number().int(),
  /** Tokens the loss is taken on. */
  trainedTokens: z.number().int(),
  /** Records longer than seqLen, cut to it. */
  truncated: z.number().int(),
  /** Records left with no response token after the cut (not trained on). */
  dropped: z.number().int(),
  /** Records with errors, left out when the run skips them. */
  skipped: z.number().int(),
})
export type DatasetStatistics = z.infer<typeof DatasetStatistics>

export const DatasetPreview = z.object({
  dataPath: z.string(),
  /** `alpaca-jsonl`, `sharegpt-json`…; null when the file could not be read as records. */
  format: z.string().nullable(),
  /** How text records become prompts: the model's chat template, or the Alpaca prompt. */
  template: z.enum(['chat-template', 'alpaca']).nullable(),
  seqLen: z.number().int(),
  records: z.array(PreviewRecord),
  /** Null when nothing can be trained on (see fatal). */
  stats: DatasetStatistics.nullable(),
  /** Every problem found, in file order, up to a cap; errorCount counts them all. */
  errors: z.array(DatasetProblem),
  errorCount: z.number().int(),
  /** Why the dataset cannot be trained on at all; null when it can. */
  fatal: z.string().nullable(),
  /** What a user should know that does not stop training (e.g. lines that were not UTF-8), one sentence each. */
  warnings: z.array(z.string()),
})
export type DatasetPreview = z.infer<typeof DatasetPreview>

/** Browser mode: a dataset file's text, stored in the data folder (the server cannot read the browser's disk). */
export const DatasetUpload = z
  .object({
    name: z.string().min(1).max(200),
    content: z.string(),
  })
  .strict()

// ---------------------------------------------------------------- evaluations

export const EvalContender = z.object({ modelPath: z.string().min(1), exit: z.number().int().positive().optional() }).strict()

export const EvaluationRequest = z
  .object({
    /** Exactly one of setPath (a file, imported on first use) and setId (a stored set). */
    setPath: z.string().min(1).optional(),
    setId: z.string().min(1).optional(),
    a: EvalContender,
    b: EvalContender,
    /** 'reference' or 'pandalm:<model folder>'. */
    judge: z.string().regex(/^(reference|pandalm:.+)$/, "must be 'reference' or 'pandalm:<model folder>'").default('reference'),
    /** Judge every exit of A against B (the paper's Table 4 shape). */
    matrix: z.boolean().default(false),
    maxNewTokens: z.number().int().positive().max(2048).default(256),
  })
  .strict()
  .refine((r) => (r.setPath === undefined) !== (r.setId === undefined), { message: 'give exactly one of setPath and setId', path: ['setPath'] })
export type EvaluationRequest = z.input<typeof EvaluationRequest>

export const EvaluationRow = z.object({
  exit: z.number().int(),
  wins: z.number(),
  losses: z.number(),
  ties: z.number(),
  n: z.number().int(),
  score: z.number(),
  tokensPerSecond: z.number(),
})
export type EvaluationRow = z.infer<typeof EvaluationRow>

export const EvaluationProgress = z.object({
  evaluationId: z.string(),
  /** The stored set being evaluated, once the worker has it. */
  setId: z.string().optional(),
  /** What is being done, e.g. "answers of model@4" or "judging @4". */
  stage: z.string(),
  /** Items of this stage done, of total. */
  done: z.number().int(),
  total: z.number().int(),
  /** Work units (one answer or one judged item) of the whole evaluation done, of total. */
  overallDone: z.number().int(),
  overallTotal: z.number().int(),
  /** Seconds left at the rate of the work done so far (stored answers and verdicts cost nothing); null until known. */
  etaSeconds: z.number().nonnegative().nullable(),
})
export type EvaluationProgress = z.infer<typeof EvaluationProgress>

export const EvaluationWork = z.object({
  answersGenerated: z.number().int().nonnegative(),
  answersReused: z.number().int().nonnegative(),
  judgementsMade: z.number().int().nonnegative(),
  judgementsReused: z.number().int().nonnegative(),
})

export const EvaluationDone = z.object({
  evaluationId: z.string(),
  ok: z.boolean(),
  /** True when stopped with evaluations.cancel (error is then 'cancelled'); starting it again resumes. */
  cancelled: z.boolean().optional(),
  setId: z.string().optional(),
  error: z.string().optional(),
  judge: z.string().optional(),
  /** One row per exit of A judged against B; with quality (score) next to speed for a plot. */
  rows: z.array(EvaluationRow),
  /** What this run generated and judged, and what it reused from the database (a resume reuses what was stored). */
  work: EvaluationWork.optional(),
})
export type EvaluationDone = z.infer<typeof EvaluationDone>

export const EvalSetSummary = z.object({
  id: z.string(),
  name: z.string(),
  /** `pandalm`, `alpaca`, `plain`, or `compare` for the compare view's own prompts. */
  format: z.string(),
  itemCount: z.number().int().nonnegative(),
  /** Items with a reference answer; the reference judge needs every item to have one. */
  withReferences: z.number().int().nonnegative(),
  createdAt: z.number(),
})
export type EvalSetSummary = z.infer<typeof EvalSetSummary>

const SetRef = z.object({ setId: z.string().min(1) }).strict()

/** A contender as stored: a registered model cut at an exit. */
export const ContenderRef = z.object({
  modelId: z.string(),
  modelName: z.string(),
  modelPath: z.string(),
  exit: z.number().int().positive(),
})
export type ContenderRef = z.infer<typeof ContenderRef>

export const TallyResult = z.object({
  wins: z.number(),
  losses: z.number(),
  ties: z.number(),
  n: z.number().int(),
  /** (wins − losses) / n. */
  score: z.number(),
})
export type TallyResult = z.infer<typeof TallyResult>

export const PairResult = TallyResult.extend({
  judge: z.string(),
  a: ContenderRef,
  b: ContenderRef,
  /** The answers' length limit (decoding), null when the outputs were made without one. */
  maxNewTokens: z.number().int().nullable(),
})
export type PairResult = z.infer<typeof PairResult>

export const ContenderResult = ContenderRef.extend({
  /** Stored outputs of this contender on the set. */
  outputs: z.number().int(),
  /** Mean decode speed of those outputs; null when none was measured. */
  tokensPerSecond: z.number().nullable(),
})
export type ContenderResult = z.infer<typeof ContenderResult>

/**
 * The paper's Table 4 shape for one judge and one model A: a row per exit of
 * A (with its speed) and a column per opponent; a cell is null where that
 * pair was not judged.
 */
export const ResultMatrix = z.object({
  judge: z.string(),
  maxNewTokens: z.number().int().nullable(),
  model: z.object({ modelId: z.string(), modelName: z.string(), modelPath: z.string() }),
  opponents: z.array(ContenderRef),
  rows: z.array(z.object({ exit: z.number().int(), tokensPerSecond: z.number().nullable(), cells: z.array(TallyResult.nullable()) })),
})
export type ResultMatrix = z.infer<typeof ResultMatrix>

export const EvaluationResults = z.object({
  set: EvalSetSummary,
  /** Every judge with verdicts on the set (whatever the request's filter). */
  judges: z.array(z.string()),
  contenders: z.array(ContenderResult),
  pairs: z.array(PairResult),
  matrices: z.array(ResultMatrix),
})
export type EvaluationResults = z.infer<typeof EvaluationResults>

export const Verdict = z.enum(['1', '2', 'Tie'])
export type Verdict = z.infer<typeof Verdict>

export const VoteRequest = z
  .object({
    /** The output the person saw first (response 1, the left pane). */
    firstGenerationId: z.string().min(1),
    secondGenerationId: z.string().min(1),
    /** For that order: '1' the first shown is better, '2' the second, or 'Tie'. */
    verdict: Verdict,
  })
  .strict()
  .refine((r) => r.firstGenerationId !== r.secondGenerationId, { message: 'an output cannot be compared with itself', path: ['secondGenerationId'] })
export type VoteRequest = z.input<typeof VoteRequest>

export const VotedOutput = ContenderRef.extend({
  generationId: z.string(),
  output: z.string(),
  tokensPerSecond: z.number().nullable(),
})

/** A human's stored verdict on a pair, A and B as stored (the vote's first-shown output is A unless the pair existed). */
export const Vote = z.object({
  comparisonId: z.string(),
  setId: z.string(),
  itemId: z.string(),
  instruction: z.string(),
  input: z.string(),
  a: VotedOutput,
  b: VotedOutput,
  /** A shown first, then B shown first ('1' there means B). */
  ab: Verdict,
  ba: Verdict,
  /** Which order(s) the person actually judged; the other holds the mirrored verdict. */
  votedOrders: z.array(z.enum(['ab', 'ba'])),
  /** The combined outcome: a disagreement between two real votes is a split. */
  preferred: z.enum(['a', 'b', 'tie', 'split']),
  createdAt: z.number(),
})
export type Vote = z.infer<typeof Vote>

const StoredContender = z.object({ modelId: z.string().min(1), exit: z.number().int().positive() }).strict()

export const PairOutputsRequest = z
  .object({
    setId: z.string().min(1),
    a: StoredContender,
    b: StoredContender,
    /** The answers' length limit, as in PairResult; null for outputs made without one. */
    maxNewTokens: z.number().int().positive().nullable(),
  })
  .strict()

/** One item of a set with both contenders' stored answers, for a person to read and vote on. */
export const PairItem = z.object({
  itemId: z.string(),
  idx: z.number().int(),
  instruction: z.string(),
  input: z.string(),
  reference: z.string().nullable(),
  a: z.object({ generationId: z.string(), output: z.string(), tokensPerSecond: z.number().nullable() }),
  b: z.object({ generationId: z.string(), output: z.string(), tokensPerSecond: z.number().nullable() }),
  /** The person's vote on this item's pair, if any. */
  vote: Vote.nullable(),
})
export type PairItem = z.infer<typeof PairItem>

export const RunningEvaluation = z.object({
  evaluationId: z.string(),
  request: z.record(z.string(), z.unknown()),
  setId: z.string().optional(),
  progress: EvaluationProgress.optional(),
})

// ---------------------------------------------------------------- compare view

export const CompareContender = z.object({ modelPath: z.string().min(1), exit: z.number().int().positive().optional() }).strict()
export type CompareContender = z.infer<typeof CompareContender>

export const CompareRequest = z
  .object({
    prompt: z.string().trim().min(1, 'must not be empty').max(20_000),
    a: CompareContender,
    b: CompareContender,
    maxNewTokens: z.number().int().positive().max(2048).default(128),
  })
  .strict()
export type CompareRequest = z.input<typeof CompareRequest>

export const CompareSide = z.enum(['a', 'b'])
export type CompareSide = z.infer<typeof CompareSide>

export const CompareStatus = z.object({
  compareId: z.string(),
  side: CompareSide,
  /** queued: waiting for the other side (they run one after another); loading: opening the model. */
  state: z.enum(['queued', 'loading', 'generating']),
  progress: z.number().min(0).max(1).optional(),
  message: z.string().optional(),
})

export const CompareToken = z.object({ compareId: z.string(), side: CompareSide, index: z.number().int().nonnegative(), text: z.string() })
export type CompareToken = z.infer<typeof CompareToken>

export const CompareDone = z.object({
  compareId: z.string(),
  side: CompareSide,
  finishReason: z.enum(['eos', 'stop', 'length', 'cancelled', 'error']),
  text: z.string(),
  /** The exit that answered (the full model when none was asked for); null when the model never opened. */
  exit: z.number().int().positive().nullable(),
  tokensPerSecond: z.number().nonnegative(),
  /** The stored output (absent when cancelled or failed): what evaluations.vote refers to. */
  generationId: z.string().optional(),
  /** The compare set's item the prompt was stored as. */
  itemId: z.string().optional(),
  error: z.string().optional(),
})
export type CompareDone = z.infer<typeof CompareDone>

/** A model folder's shape as models.inspect reads it (config.json and sorted.json, no weights). */
export const ModelFolderShape = z.object({
  path: z.string(),
  name: z.string(),
  architecture: z.string(),
  numLayers: z.number().int().positive(),
  /** Exits the model offers: sorted.json's, else every layer count. */
  exits: z.array(z.number().int().positive()),
  /** Sizes the tuning estimate and the wizard show. */
  hiddenSize: z.number().int().positive(),
  numHeads: z.number().int().positive(),
  vocabSize: z.number().int().positive(),
  parameters: z.number().int().positive(),
  /** Whether it can format text: tokenizer.json, and a chat template of its own (else the Alpaca prompt). */
  hasTokenizer: z.boolean(),
  hasChatTemplate: z.boolean(),
})
export type ModelFolderShape = z.infer<typeof ModelFolderShape>

// ---------------------------------------------------------------- model library

export const ModelSource = z.enum(['bundled', 'imported', 'trained'])

/** Measured figures of one exit (as in sorted.json): val_loss, rouge_l, decode_tokens_per_s, … */
export const ExitResults = z.record(z.string(), z.number())

export const ModelSummary = z.object({
  id: z.string(),
  name: z.string(),
  /** The model's folder. */
  path: z.string(),
  source: ModelSource,
  architecture: z.string(),
  numLayers: z.number().int().positive(),
  /** Exits (layer counts) the model was sorted for, ascending; empty for a plain model (every layer count works). */
  exits: z.array(z.number().int().positive()),
  /** Per exit (keyed by the layer count), the figures measured for it. */
  results: z.record(z.string(), ExitResults),
  /** Bytes on disk (weights, tokenizer, metadata). */
  sizeBytes: z.number().nonnegative(),
  createdAt: z.number(),
})
export type ModelSummary = z.infer<typeof ModelSummary>

export const ModelImportProgress = z.object({
  path: z.string(),
  /** 0..1 through validation, weight reading and graph compilation. */
  progress: z.number().min(0).max(1),
  message: z.string(),
})

const ModelRef = z.object({ modelId: z.string().min(1) }).strict()

// ---------------------------------------------------------------- chats

/** How a chat's replies are generated; saved with the chat and with every reply. */
export const ChatSettings = z
  .object({
    /** The budget: the exit (layer count) replies start at; the full model when absent. */
    exit: z.number().int().positive().optional(),
    maxNewTokens: z.number().int().positive().max(8192).default(256),
    sampling: Sampling.default({ temperature: 0 }),
  })
  .strict()
export type ChatSettings = z.infer<typeof ChatSettings>

export const ChatSummary = z.object({
  id: z.string(),
  title: z.string(),
  modelId: z.string().nullable(),
  systemPrompt: z.string(),
  settings: ChatSettings,
  createdAt: z.number(),
  updatedAt: z.number(),
})
export type ChatSummary = z.infer<typeof ChatSummary>

export const ChatMessageRecord = z.object({
  id: z.string(),
  chatId: z.string(),
  position: z.number().int().nonnegative(),
  role: z.enum(['system', 'user', 'assistant']),
  content: z.string(),
  /** The exit the reply started at; null for the user's text. */
  exit: z.number().int().nullable(),
  /** The exit of every generated token, and how many characters of content each wrote. */
  tokenExits: z.array(z.number().int()).nullable(),
  tokenLengths: z.array(z.number().int()).nullable(),
  /** The settings the reply was generated with (ChatSettings plus the finish reason). */
  settings: z.record(z.string(), z.unknown()),
  tokensPerSecond: z.number().nullable(),
  createdAt: z.number(),
})
export type ChatMessageRecord = z.infer<typeof ChatMessageRecord>

export const ChatReplyDone = z.object({
  chatId: z.string(),
  generationId: z.string(),
  /** The stored reply; absent when generation failed before writing anything. */
  message: ChatMessageRecord.optional(),
  error: z.string().optional(),
})

const ChatRef = z.object({ chatId: z.string().min(1) }).strict()

// ---------------------------------------------------------------- registry

const Empty = z.object({}).strict()

/** Every request/response pair, keyed by method name. */
export const methods = {
  'app.info': { request: Empty, response: AppInfo },
  /** The desktop app's native folder picker; null when cancelled. Browser mode has none (type a path instead). */
  'app.pickFolder': { request: z.object({ title: z.string().max(200).optional() }).strict(), response: z.object({ path: z.string().nullable() }) },
  'settings.get': { request: Empty, response: Settings },
  'settings.update': { request: SettingsPatch, response: Settings },
  /** Loads a Hugging Face model folder into the engine (replacing the loaded one); progress as engine.status events. */
  'engine.load': { request: z.object({ path: z.string().min(1) }).strict(), response: EngineStatus },
  'engine.unload': { request: Empty, response: EngineStatus },
  'engine.status': { request: Empty, response: EngineStatus },
  /** Starts generating; tokens arrive as generation.token events, the end as generation.done. */
  'engine.generate': { request: GenerateRequest, response: z.object({ generationId: z.string() }) },
  /** Changes the exit of a running generation from its next token on. */
  'engine.setExit': { request: GenerationRef.extend({ exit: z.number().int().positive() }).strict(), response: z.object({}) },
  'engine.cancel': { request: GenerationRef, response: z.object({}) },
  /** Starts fine-tuning in a worker thread; progress as run.progress events. */
  'runs.start': { request: TuneRequest, response: z.object({ runId: z.string() }) },
  /** Stops a run at the next step boundary with a checkpoint; it can be resumed. */
  'runs.cancel': { request: RunRef, response: z.object({}) },
  /** Continues a paused or interrupted run from its latest checkpoint. */
  'runs.resume': { request: RunRef, response: z.object({}) },
  'runs.list': { request: Empty, response: z.object({ runs: z.array(RunSummary) }) },
  'runs.get': { request: RunRef, response: RunDetails },
  /** Generates and judges in a worker thread; progress as evaluation.progress, the W/L/T rows as evaluation.done. */
  'evaluations.start': { request: EvaluationRequest, response: z.object({ evaluationId: z.string() }) },
  /** Stops a running evaluation; what it stored stays, so starting it again resumes. */
  'evaluations.cancel': { request: z.object({ evaluationId: z.string().min(1) }).strict(), response: z.object({}) },
  /** Evaluations running now, with their latest progress (for a page opened mid-run). */
  'evaluations.running': { request: Empty, response: z.object({ evaluations: z.array(RunningEvaluation) }) },
  'evaluations.sets': { request: Empty, response: z.object({ sets: z.array(EvalSetSummary) }) },
  /** Imports an evaluation set file (PandaLM, Alpaca JSON/JSONL, plain JSONL); the same file again returns the stored set. */
  'evaluations.importSet': { request: z.object({ path: z.string().min(1) }).strict(), response: z.object({ set: EvalSetSummary }) },
  /** Deletes a set with its outputs and verdicts. */
  'evaluations.removeSet': { request: SetRef, response: z.object({}) },
  /** Stored results of a set, recomputed from its verdicts: pairs, per-contender speed, matrices. */
  'evaluations.results': { request: SetRef.extend({ judge: z.string().min(1).optional() }).strict(), response: EvaluationResults },
  /** A human verdict on two outputs of one item, for the order they were shown in; replaces the earlier vote on that pair. */
  'evaluations.vote': { request: VoteRequest, response: z.object({ vote: Vote }) },
  /** Human votes, newest first; on one set, or on every set. */
  'evaluations.votes': {
    request: z.object({ setId: z.string().min(1).optional(), limit: z.number().int().positive().max(1000).default(100) }).strict(),
    response: z.object({ votes: z.array(Vote) }),
  },
  /** The items where both contenders have a stored answer (a batch's outputs), each with the person's vote if any. */
  'evaluations.pairOutputs': { request: PairOutputsRequest, response: z.object({ items: z.array(PairItem) }) },
  /** Streams one prompt from two contenders (A, then B) in a worker; compare.token / compare.done per side. */
  'compare.generate': { request: CompareRequest, response: z.object({ compareId: z.string() }) },
  'compare.cancel': { request: z.object({ compareId: z.string().min(1) }).strict(), response: z.object({}) },
  /** Reads a model folder's config (and sorted.json) without loading weights: name, layers, exits. */
  'models.inspect': { request: z.object({ path: z.string().min(1) }).strict(), response: ModelFolderShape },
  /** Bundled, imported and trained models, bundled first. */
  'models.list': { request: Empty, response: z.object({ models: z.array(ModelSummary) }) },
  /** Validates a Hugging Face folder and compiles its graphs (progress as models.importProgress), then adds it to the library. */
  'models.import': { request: z.object({ path: z.string().min(1) }).strict(), response: z.object({ model: ModelSummary }) },
  /** Removes an imported or trained model from the library (its files stay on disk); bundled models cannot be removed. */
  'models.remove': { request: ModelRef, response: z.object({}) },
  /** Copies the model's folder to `to`, which must not exist yet. */
  'models.export': { request: ModelRef.extend({ to: z.string().min(1) }).strict(), response: z.object({ path: z.string() }) },
  'chats.list': { request: z.object({ search: z.string().optional() }).strict(), response: z.object({ chats: z.array(ChatSummary) }) },
  /** A new chat on the given model, else the default model (the bundled SoFT model). */
  'chats.create': {
    request: z.object({ title: z.string().optional(), modelId: z.string().optional(), settings: ChatSettings.optional() }).strict(),
    response: z.object({ chat: ChatSummary }),
  },
  'chats.get': { request: ChatRef, response: z.object({ chat: ChatSummary, messages: z.array(ChatMessageRecord) }) },
  'chats.rename': { request: ChatRef.extend({ title: z.string().trim().min(1).max(200) }).strict(), response: z.object({ chat: ChatSummary }) },
  /** Changes the model, system prompt or settings for the replies that follow. */
  'chats.configure': {
    request: ChatRef.extend({ modelId: z.string().optional(), systemPrompt: z.string().max(20000).optional(), settings: ChatSettings.optional() }).strict(),
    response: z.object({ chat: ChatSummary }),
  },
  'chats.remove': { request: ChatRef, response: z.object({}) },
  /**
   * Adds the user's message and starts the reply (loading the chat's model if needed). Tokens stream as
   * generation.token; the stored reply arrives as chat.replyDone. Move the budget with engine.setExit.
   */
  'chats.send': {
    request: ChatRef.extend({ content: z.string().min(1).max(100000) }).strict(),
    response: z.object({ generationId: z.string(), message: ChatMessageRecord }),
  },
  /** Replaces the answer `messageId` (and anything after it) with a new one, e.g. at another budget. */
  'chats.regenerate': {
    request: ChatRef.extend({ messageId: z.string().min(1), exit: z.number().int().positive().optional() }).strict(),
    response: z.object({ generationId: z.string() }),
  },
  /** Time and memory a run would take, before starting it (an estimate; see engine/train/estimate.ts). outDir is not used. */
  'runs.estimate': { request: TuneRequest, response: RunEstimate },
  /** Deletes a run that is not running, with its metrics and checkpoints; its tuned model stays unless deleteOutput. */
  'runs.remove': {
    request: RunRef.extend({ deleteOutput: z.boolean().default(false) }).strict(),
    response: z.object({ removedPaths: z.array(z.string()) }),
  },
  /** A dataset as the trainer would see it with this model: formatted records, statistics, every error. Runs in a worker. */
  'datasets.preview': { request: DatasetPreviewRequest, response: DatasetPreview },
  /** Stores an uploaded dataset file in the data folder's datasets/ and returns its path (size-capped). */
  'datasets.upload': { request: DatasetUpload, response: z.object({ path: z.string() }) },
  /** The desktop app's open-file dialog (e.g. for a dataset); browser mode has none and answers conflict. */
  'app.pickFile': {
    request: z
      .object({
        title: z.string().max(200).optional(),
        /** Extensions offered, without dots, e.g. ['json', 'jsonl']. */
        extensions: z.array(z.string().regex(/^[A-Za-z0-9]{1,10}$/)).max(20).optional(),
      })
      .strict(),
    response: z.object({ path: z.string().nullable() }),
  },
} as const

/** Every event the backend pushes to all connected windows, keyed by name. */
export const events = {
  /** Settings changed (from any window or tab); carries the whole new value. */
  'settings.changed': Settings,
  'engine.status': EngineStatus,
  'generation.token': GenerationToken,
  'generation.done': GenerationDone,
  'run.progress': RunProgress,
  'run.status': RunStatusEvent,
  'evaluation.progress': EvaluationProgress,
  'evaluation.done': EvaluationDone,
  'compare.status': CompareStatus,
  'compare.token': CompareToken,
  'compare.done': CompareDone,
  'models.importProgress': ModelImportProgress,
  /** The model library changed (import, removal, a run's new model). */
  'models.changed': z.object({}),
  'chat.replyDone': ChatReplyDone,
  'run.validation': RunValidationEvent,
  'run.checkpoint': RunCheckpointEvent,
} as const

export type MethodName = keyof typeof methods
export type EventName = keyof typeof events
export type MethodRequest<M extends MethodName> = z.input<(typeof methods)[M]['request']>
export type MethodParams<M extends MethodName> = z.output<(typeof methods)[M]['request']>
export type MethodResponse<M extends MethodName> = z.output<(typeof methods)[M]['response']>
export type EventPayload<E extends EventName> = z.output<(typeof events)[E]>

export const methodNames = Object.keys(methods) as MethodName[]
export const eventNames = Object.keys(events) as EventName[]

export function isMethodName(name: string): name is MethodName {
  return Object.hasOwn(methods, name)
}

export function isEventName(name: string): name is EventName {
  return Object.hasOwn(events, name)
}
