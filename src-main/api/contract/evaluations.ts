/**
 * Evaluations: sets, PandaLM-style judged comparisons, results and human votes.
 * Part of the API contract (see index.ts).
 */
import { z } from 'zod'
import { Contender, ContenderMode, Empty, WeightPrecision } from './common'

export const EvaluationRequest = z
  .object({
    /** Exactly one of setPath (a file, imported on first use) and setId (a stored set). */
    setPath: z.string().min(1).optional(),
    setId: z.string().min(1).optional(),
    a: Contender,
    b: Contender,
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

/** How one side of a finished evaluation ran: the weights it ran in (fp32 where the provider could not run the ones asked for, with why) and its mode's figures. */
export const EvaluationSide = z.object({
  /** `folder@exit`, `folder@exact`, `folder@auto:TAU` (a matrix's A: its folder). */
  label: z.string(),
  precision: WeightPrecision,
  weightsFallbackReason: z.string().optional(),
  mode: z.enum(['exit', 'exact', 'auto']),
  tau: z.number().optional(),
  /** Exact: accepted ÷ drafted tokens over all of its answers on the set. */
  acceptanceRate: z.number().nullable().optional(),
  /** Auto: the mean exit per token over all of its answers on the set. */
  meanExit: z.number().nullable().optional(),
  /** Answers this run made (the rest were found recorded). */
  generated: z.number().int().nonnegative(),
})
export type EvaluationSide = z.infer<typeof EvaluationSide>

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
  /** How each side ran (on success). */
  contenders: z.object({ a: EvaluationSide, b: EvaluationSide }).optional(),
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

/** A set that ships with the app (resources/eval), offered for import by id. */
export const ReadyMadeSet = z.object({
  id: z.string(),
  name: z.string(),
  /** What the set is and which judge suits it, in a sentence. */
  description: z.string(),
  itemCount: z.number().int().nonnegative(),
  withReferences: z.number().int().nonnegative(),
})
export type ReadyMadeSet = z.infer<typeof ReadyMadeSet>

/**
 * A contender as stored: a registered model cut at an exit (a layer count).
 * services/store-types.ts keeps it equal to the store's `StoredContender`.
 */
export const StoredContender = z.object({ modelId: z.string().min(1), exit: z.number().int().positive() })
export type StoredContender = z.infer<typeof StoredContender>

/** A stored contender with its model's name and folder, as results show it. */
export const ContenderRef = StoredContender.extend({ modelName: z.string(), modelPath: z.string() })
export type ContenderRef = z.infer<typeof ContenderRef>

/**
 * A contender as batch results tell contenders apart: a model at an exit, in
 * the weights it answered in, and at that exit or in a decoding mode (its
 * exit is then the full depth). Answers in other weights or modes are other
 * contenders: their verdicts and speeds are never pooled.
 */
export const ResultContender = ContenderRef.extend({
  precision: WeightPrecision,
  /** int8/int4 answers made at a block size other than the default (the CLI's --block-size). */
  blockSize: z.number().int().positive().optional(),
  /** null: answered at `exit`. */
  mode: ContenderMode.nullable(),
})
export type ResultContender = z.infer<typeof ResultContender>

/** What decoding measured over a contender's answers: Exact's acceptance, Auto's mean exit (null where no answer carries the figures). */
const ModeFigures = z.object({
  /** Exact: accepted ÷ drafted tokens. */
  acceptanceRate: z.number().nullable().optional(),
  /** Auto: the mean exit that chose each token. */
  meanExit: z.number().nullable().optional(),
})

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
  a: ResultContender,
  b: ResultContender,
  /** The answers' length limit (decoding), null when the outputs were made without one. */
  maxNewTokens: z.number().int().nullable(),
})
export type PairResult = z.infer<typeof PairResult>

export const ContenderResult = ResultContender.extend({
  /** The answers' length limit, as in PairResult: outputs of other lengths are listed apart. */
  maxNewTokens: z.number().int().nullable(),
  /** Stored outputs of this contender on the set. */
  outputs: z.number().int(),
  /** Mean decode speed of those outputs; null when none was measured. */
  tokensPerSecond: z.number().nullable(),
}).merge(ModeFigures)
export type ContenderResult = z.infer<typeof ContenderResult>

/**
 * The paper's Table 4 shape for one judge and one model A: a row per
 * contender of A (an exit in one precision, or a mode; with its speed) and a
 * column per opponent; a cell is null where that pair was not judged.
 */
export const ResultMatrix = z.object({
  judge: z.string(),
  maxNewTokens: z.number().int().nullable(),
  model: z.object({ modelId: z.string(), modelName: z.string(), modelPath: z.string() }),
  opponents: z.array(ResultContender),
  rows: z.array(
    z
      .object({
        exit: z.number().int(),
        precision: WeightPrecision,
        blockSize: z.number().int().positive().optional(),
        mode: ContenderMode.nullable(),
        tokensPerSecond: z.number().nullable(),
        cells: z.array(TallyResult.nullable()),
      })
      .merge(ModeFigures),
  ),
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

/** '1' the first response shown is better, '2' the second, or 'Tie' (the engine's Verdict, engine/judge/pandalm.ts). */
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

/** An output a person voted on, with the contender (weights and mode included) that wrote it. */
export const VotedOutput = ResultContender.extend({
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

/** One side of a pair to review: a stored contender in its weights and mode (absent: fp32 at its exit), as ResultContender names them. */
const PairSide = StoredContender.extend({
  precision: WeightPrecision.optional(),
  blockSize: z.number().int().positive().optional(),
  mode: ContenderMode.nullable().optional(),
}).strict()

export const PairOutputsRequest = z
  .object({
    setId: z.string().min(1),
    a: PairSide,
    b: PairSide,
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

export const evaluationsMethods = {
  /** Generates and judges in a worker thread; progress as evaluation.progress, the W/L/T rows as evaluation.done. */
  'evaluations.start': { request: EvaluationRequest, response: z.object({ evaluationId: z.string() }) },
  /** Stops a running evaluation; what it stored stays, so starting it again resumes. */
  'evaluations.cancel': { request: z.object({ evaluationId: z.string().min(1) }).strict(), response: z.object({}) },
  /** Evaluations running now, with their latest progress (for a page opened mid-run). */
  'evaluations.running': { request: Empty, response: z.object({ evaluations: z.array(RunningEvaluation) }) },
  'evaluations.sets': { request: Empty, response: z.object({ sets: z.array(EvalSetSummary) }) },
  /** Imports an evaluation set file (PandaLM, Alpaca JSON/JSONL, plain JSONL); the same file again returns the stored set. */
  'evaluations.importSet': { request: z.object({ path: z.string().min(1) }).strict(), response: z.object({ set: EvalSetSummary }) },
  /** The sets shipped with the app, ready to import. */
  'evaluations.readyMadeSets': { request: Empty, response: z.object({ sets: z.array(ReadyMadeSet) }) },
  /** Imports a shipped set by id; importing it again returns the stored set. */
  'evaluations.importReadyMadeSet': { request: z.object({ id: z.string().min(1) }).strict(), response: z.object({ set: EvalSetSummary }) },
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
} as const

export const evaluationsEvents = {
  'evaluation.progress': EvaluationProgress,
  'evaluation.done': EvaluationDone,
} as const
