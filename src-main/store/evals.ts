/**
 * Evaluation: instruction sets, the outputs each contender (a model at an
 * exit) generated for them, and the judges' pairwise verdicts.
 */
import { randomUUID } from 'node:crypto'
import type { Database, Statement, Transaction } from 'better-sqlite3'
import type { Clock } from './clock'
import { NotFoundError } from './errors'
import { decodeJson, decodeJsonOrNull, encodeCanonicalJson, type JsonObject } from './json'
import { prepareReturning, type WriteReturning } from './returning'

export interface EvalSet {
  id: string
  name: string
  /** The format it was imported from, e.g. `alpaca-json`, `pandalm`. */
  format: string
  itemCount: number
  createdAt: number
}

/** A set with how many of its items carry a reference answer (what the reference judge needs). */
export interface EvalSetSummary extends EvalSet {
  withReferences: number
}

export interface EvalItem {
  id: string
  evalSetId: string
  /** Position in the imported file, from 0. */
  idx: number
  instruction: string
  input: string
  reference: string | null
}

export interface NewEvalItem {
  instruction: string
  input?: string
  reference?: string | null
}

/**
 * Who produced an output: a registered model cut at an exit (layer count).
 * The contract's StoredContender is checked equal to it (services/store-types.ts).
 */
export interface StoredContender {
  modelId: string
  exit: number
}

export interface Generation extends StoredContender {
  id: string
  evalItemId: string
  decoding: JsonObject
  output: string
  tokensPerSecond: number | null
  /** What decoding measured on it beside speed (e.g. Exact's accepted drafts); null when nothing was. */
  stats: JsonObject | null
  createdAt: number
}

export interface NewGeneration extends StoredContender {
  evalItemId: string
  decoding: JsonObject
  output: string
  tokensPerSecond?: number | null
  stats?: JsonObject | null
}

/** PandaLM's answer: '1' the first response shown is better, '2' the second, or 'Tie' (checked equal to the contract's in services/store-types.ts). */
export type Verdict = '1' | '2' | 'Tie'

export interface Judgement {
  verdict: Verdict
  reason: string | null
  /** The judge's own reference answer, when it writes one. */
  reference: string | null
}

export interface Comparison {
  id: string
  evalItemId: string
  generationAId: string
  generationBId: string
  /** 'reference', 'human', 'pandalm:<model>'. */
  judge: string
  /** With A shown first. */
  ab: Judgement
  /** With B shown first: here '1' means B won. */
  ba: Judgement
  createdAt: number
}

export interface NewJudgement {
  verdict: Verdict
  reason?: string | null
  reference?: string | null
}

export interface NewComparison {
  generationAId: string
  generationBId: string
  judge: string
  ab: NewJudgement
  ba: NewJudgement
}

/** A comparison with the contender (and decoding) behind each of its two generations. */
export interface JudgedComparison extends Comparison {
  a: StoredContender & { decoding: JsonObject }
  b: StoredContender & { decoding: JsonObject }
}

/**
 * A contender's stored outputs on one set with one decoding (answer length,
 * weights, mode): how many, their mean decode speed (null when none was
 * measured), and the sums of the stats recorded with them (null when none
 * carries any).
 */
export interface ContenderOutputs extends StoredContender {
  decoding: JsonObject
  outputs: number
  tokensPerSecond: number | null
  stats: { tokens: number; drafted: number; accepted: number; exitSum: number } | null
}

interface EvalSetRow {
  id: string
  name: string
  format: string
  item_count: number
  created_at: number
}

interface EvalItemRow {
  id: string
  eval_set_id: string
  idx: number
  instruction: string
  input: string
  reference: string | null
}

interface GenerationRow {
  id: string
  eval_item_id: string
  model_id: string
  exit: number
  decoding: string
  output: string
  tokens_per_second: number | null
  stats: string | null
  created_at: number
}

interface ComparisonRow {
  id: string
  eval_item_id: string
  generation_a_id: string
  generation_b_id: string
  judge: string
  verdict_ab: Verdict
  reason_ab: string | null
  reference_ab: string | null
  verdict_ba: Verdict
  reason_ba: string | null
  reference_ba: string | null
  created_at: number
}

interface JudgedComparisonRow extends ComparisonRow {
  a_model_id: string
  a_exit: number
  a_decoding: string
  b_model_id: string
  b_exit: number
  b_decoding: string
}

interface ContenderOutputsRow {
  model_id: string
  exit: number
  decoding: string
  outputs: number
  tokens_per_second: number | null
  with_stats: number
  stat_tokens: number | null
  stat_drafted: number | null
  stat_accepted: number | null
  stat_exit_sum: number | null
}

type GenerationKey = Pick<GenerationRow, 'eval_item_id' | 'model_id' | 'exit' | 'decoding'>
type NewComparisonRow = Omit<ComparisonRow, 'eval_item_id'>

function toEvalSet(row: EvalSetRow): EvalSet {
  return { id: row.id, name: row.name, format: row.format, itemCount: row.item_count, createdAt: row.created_at }
}

function toEvalItem(row: EvalItemRow): EvalItem {
  return {
    id: row.id,
    evalSetId: row.eval_set_id,
    idx: row.idx,
    instruction: row.instruction,
    input: row.input,
    reference: row.reference,
  }
}

function toGeneration(row: GenerationRow): Generation {
  return {
    id: row.id,
    evalItemId: row.eval_item_id,
    modelId: row.model_id,
    exit: row.exit,
    decoding: decodeJson<JsonObject>(row.decoding),
    output: row.output,
    tokensPerSecond: row.tokens_per_second,
    stats: decodeJsonOrNull<JsonObject>(row.stats),
    createdAt: row.created_at,
  }
}

function toComparison(row: ComparisonRow): Comparison {
  return {
    id: row.id,
    evalItemId: row.eval_item_id,
    generationAId: row.generation_a_id,
    generationBId: row.generation_b_id,
    judge: row.judge,
    ab: { verdict: row.verdict_ab, reason: row.reason_ab, reference: row.reference_ab },
    ba: { verdict: row.verdict_ba, reason: row.reason_ba, reference: row.reference_ba },
    createdAt: row.created_at,
  }
}

export class EvalRepository {
  readonly #insertSet: Statement<EvalSetRow>
  readonly #insertItem: Statement<EvalItemRow>
  readonly #getSet: Statement<[string], EvalSetRow>
  readonly #sets: Statement<[], EvalSetRow>
  readonly #deleteSet: Statement<[string]>
  readonly #items: Statement<[string], EvalItemRow>
  readonly #insertGeneration: Statement<GenerationRow>
  readonly #findGeneration: Statement<GenerationKey, GenerationRow>
  readonly #getGeneration: Statement<[string], GenerationRow>
  readonly #generations: Statement<[string], GenerationRow>
  readonly #putComparison: WriteReturning<NewComparisonRow, ComparisonRow>
  readonly #comparisons: Statement<[string], ComparisonRow>
  readonly #setSummaries: Statement<[], EvalSetRow & { with_references: number }>
  readonly #getItem: Statement<[string], EvalItemRow>
  readonly #nextIdx: Statement<[string], { next: number }>
  readonly #countItem: Statement<[string]>
  readonly #findComparison: Statement<{ x: string; y: string; judge: string | null }, ComparisonRow>
  readonly #judgedComparisons: Statement<[string], JudgedComparisonRow>
  readonly #recentComparisons: Statement<{ judge: string; set: string | null; limit: number }, ComparisonRow & { eval_set_id: string }>
  readonly #contenderOutputs: Statement<[string], ContenderOutputsRow>
  readonly #importSet: Transaction<(name: string, format: string, items: readonly NewEvalItem[]) => EvalSet>
  readonly #appendItem: Transaction<(evalSetId: string, item: NewEvalItem) => EvalItem>
  readonly #recordGeneration: Transaction<(generation: NewGeneration) => Generation>
  readonly #now: Clock

  constructor(db: Database, now: Clock) {
    this.#now = now
    this.#insertSet = db.prepare<EvalSetRow>(
      `INSERT INTO eval_sets (id, name, format, item_count, created_at) VALUES (@id, @name, @format, @item_count, @created_at)`,
    )
    this.#insertItem = db.prepare<EvalItemRow>(
      `INSERT INTO eval_items (id, eval_set_id, idx, instruction, input, reference)
       VALUES (@id, @eval_set_id, @idx, @instruction, @input, @reference)`,
    )
    this.#getSet = db.prepare<[string], EvalSetRow>('SELECT * FROM eval_sets WHERE id = ?')
    this.#sets = db.prepare<[], EvalSetRow>('SELECT * FROM eval_sets ORDER BY created_at DESC, rowid DESC')
    this.#deleteSet = db.prepare<[string]>('DELETE FROM eval_sets WHERE id = ?')
    this.#items = db.prepare<[string], EvalItemRow>('SELECT * FROM eval_items WHERE eval_set_id = ? ORDER BY idx')

    this.#insertGeneration = db.prepare<GenerationRow>(
      `INSERT INTO generations (id, eval_item_id, model_id, exit, decoding, output, tokens_per_second, stats, created_at)
       VALUES (@id, @eval_item_id, @model_id, @exit, @decoding, @output, @tokens_per_second, @stats, @created_at)
       ON CONFLICT (eval_item_id, model_id, exit, decoding) DO NOTHING`,
    )
    this.#findGeneration = db.prepare<GenerationKey, GenerationRow>(
      `SELECT * FROM generations
       WHERE eval_item_id = @eval_item_id AND model_id = @model_id AND exit = @exit AND decoding = @decoding`,
    )
    this.#getGeneration = db.prepare<[string], GenerationRow>('SELECT * FROM generations WHERE id = ?')
    this.#generations = db.prepare<[string], GenerationRow>(
      'SELECT * FROM generations WHERE eval_item_id = ? ORDER BY model_id, exit, rowid',
    )

    // The item is taken from generation A, and the join refuses a B that
    // answers a different item, so a comparison always compares like with like.
    this.#putComparison = prepareReturning<NewComparisonRow, ComparisonRow>(
      db,
      `INSERT INTO comparisons (id, eval_item_id, generation_a_id, generation_b_id, judge,
                                verdict_ab, reason_ab, reference_ab, verdict_ba, reason_ba, reference_ba, created_at)
       SELECT @id, a.eval_item_id, a.id, b.id, @judge,
              @verdict_ab, @reason_ab, @reference_ab, @verdict_ba, @reason_ba, @reference_ba, @created_at
       FROM generations a JOIN generations b ON b.id = @generation_b_id AND b.eval_item_id = a.eval_item_id
       WHERE a.id = @generation_a_id
       ON CONFLICT (generation_a_id, generation_b_id, judge) DO UPDATE SET
         verdict_ab = excluded.verdict_ab, reason_ab = excluded.reason_ab, reference_ab = excluded.reference_ab,
         verdict_ba = excluded.verdict_ba, reason_ba = excluded.reason_ba, reference_ba = excluded.reference_ba,
         created_at = excluded.created_at
       RETURNING *`,
    )
    this.#comparisons = db.prepare<[string], ComparisonRow>(
      `SELECT c.* FROM comparisons c JOIN eval_items i ON i.id = c.eval_item_id
       WHERE i.eval_set_id = ? ORDER BY i.idx, c.rowid`,
    )

    this.#setSummaries = db.prepare<[], EvalSetRow & { with_references: number }>(
      `SELECT s.*, (SELECT COUNT(*) FROM eval_items i WHERE i.eval_set_id = s.id AND i.reference IS NOT NULL) AS with_references
       FROM eval_sets s ORDER BY s.created_at DESC, s.rowid DESC`,
    )
    this.#getItem = db.prepare<[string], EvalItemRow>('SELECT * FROM eval_items WHERE id = ?')
    this.#nextIdx = db.prepare<[string], { next: number }>('SELECT COALESCE(MAX(idx) + 1, 0) AS next FROM eval_items WHERE eval_set_id = ?')
    this.#countItem = db.prepare<[string]>('UPDATE eval_sets SET item_count = item_count + 1 WHERE id = ?')
    // Either orientation: a pair is the same pair whichever output was called A.
    this.#findComparison = db.prepare<{ x: string; y: string; judge: string | null }, ComparisonRow>(
      `SELECT * FROM comparisons
       WHERE (@judge IS NULL OR judge = @judge)
         AND ((generation_a_id = @x AND generation_b_id = @y) OR (generation_a_id = @y AND generation_b_id = @x))
       ORDER BY rowid LIMIT 1`,
    )
    this.#judgedComparisons = db.prepare<[string], JudgedComparisonRow>(
      `SELECT c.*, a.model_id AS a_model_id, a.exit AS a_exit, a.decoding AS a_decoding,
              b.model_id AS b_model_id, b.exit AS b_exit, b.decoding AS b_decoding
       FROM comparisons c
       JOIN eval_items i ON i.id = c.eval_item_id
       JOIN generations a ON a.id = c.generation_a_id
       JOIN generations b ON b.id = c.generation_b_id
       WHERE i.eval_set_id = ? ORDER BY i.idx, c.rowid`,
    )
    this.#recentComparisons = db.prepare<{ judge: string; set: string | null; limit: number }, ComparisonRow & { eval_set_id: string }>(
      `SELECT c.*, i.eval_set_id FROM comparisons c JOIN eval_items i ON i.id = c.eval_item_id
       WHERE c.judge = @judge AND (@set IS NULL OR i.eval_set_id = @set)
       ORDER BY c.created_at DESC, c.rowid DESC LIMIT @limit`,
    )
    this.#contenderOutputs = db.prepare<[string], ContenderOutputsRow>(
      // Stats are summed only over answers that carry all four figures, so the sums stay one consistent set.
      `SELECT g.model_id, g.exit, g.decoding, COUNT(*) AS outputs, AVG(g.tokens_per_second) AS tokens_per_second,
              COUNT(s.tokens) AS with_stats, SUM(s.tokens) AS stat_tokens, SUM(s.drafted) AS stat_drafted,
              SUM(s.accepted) AS stat_accepted, SUM(s.exit_sum) AS stat_exit_sum
       FROM generations g JOIN eval_items i ON i.id = g.eval_item_id
       LEFT JOIN (
         SELECT id, json_extract(stats, '$.tokens') AS tokens, json_extract(stats, '$.drafted') AS drafted,
                json_extract(stats, '$.accepted') AS accepted, json_extract(stats, '$.exitSum') AS exit_sum
         FROM generations
         WHERE stats IS NOT NULL AND json_type(stats, '$.tokens') IN ('integer', 'real') AND json_type(stats, '$.drafted') IN ('integer', 'real')
           AND json_type(stats, '$.accepted') IN ('integer', 'real') AND json_type(stats, '$.exitSum') IN ('integer', 'real')
       ) s ON s.id = g.id
       WHERE i.eval_set_id = ? GROUP BY g.model_id, g.exit, g.decoding ORDER BY g.model_id, g.exit, g.decoding`,
    )

    this.#importSet = db.transaction((name: string, format: string, items: readonly NewEvalItem[]) => {
      const set: EvalSetRow = { id: randomUUID(), name, format, item_count: items.length, created_at: this.#now() }
      this.#insertSet.run(set)
      items.forEach((item, idx) => {
        this.#insertItem.run({
          id: randomUUID(),
          eval_set_id: set.id,
          idx,
          instruction: item.instruction,
          input: item.input ?? '',
          reference: item.reference ?? null,
        })
      })
      return toEvalSet(set)
    })
    this.#appendItem = db.transaction((evalSetId: string, item: NewEvalItem) => {
      if (this.#getSet.get(evalSetId) === undefined) throw new NotFoundError('eval set', evalSetId)
      const row: EvalItemRow = {
        id: randomUUID(),
        eval_set_id: evalSetId,
        idx: this.#nextIdx.get(evalSetId)!.next,
        instruction: item.instruction,
        input: item.input ?? '',
        reference: item.reference ?? null,
      }
      this.#insertItem.run(row)
      this.#countItem.run(evalSetId)
      return toEvalItem(row)
    })
    this.#recordGeneration = db.transaction((generation: NewGeneration) => {
      const key: GenerationKey = {
        eval_item_id: generation.evalItemId,
        model_id: generation.modelId,
        exit: generation.exit,
        decoding: encodeCanonicalJson(generation.decoding, 'decoding'),
      }
      this.#insertGeneration.run({
        ...key,
        id: randomUUID(),
        output: generation.output,
        tokens_per_second: generation.tokensPerSecond ?? null,
        stats: generation.stats ? encodeCanonicalJson(generation.stats, 'stats') : null,
        created_at: this.#now(),
      })
      return toGeneration(this.#findGeneration.get(key)!)
    })
  }

  /** Stores the set and all its items, or nothing. Items keep their file order as `idx`. */
  importSet(name: string, format: string, items: readonly NewEvalItem[]): EvalSet {
    return this.#importSet(name, format, items)
  }

  getSet(id: string): EvalSet | undefined {
    const row = this.#getSet.get(id)
    return row === undefined ? undefined : toEvalSet(row)
  }

  /** Newest first. */
  sets(): EvalSet[] {
    return this.#sets.all().map(toEvalSet)
  }

  /** Every set, newest first, with how many items carry a reference. */
  setSummaries(): EvalSetSummary[] {
    return this.#setSummaries.all().map((row) => ({ ...toEvalSet(row), withReferences: row.with_references }))
  }

  /**
   * Adds one item at the end of a set (the compare view's ad-hoc prompts),
   * keeping the set's item count right: both or neither are written.
   */
  appendItem(evalSetId: string, item: NewEvalItem): EvalItem {
    return this.#appendItem(evalSetId, item)
  }

  getItem(id: string): EvalItem | undefined {
    const row = this.#getItem.get(id)
    return row === undefined ? undefined : toEvalItem(row)
  }

  /** Deletes the set with its items, generations and comparisons. */
  removeSet(id: string): boolean {
    return this.#deleteSet.run(id).changes > 0
  }

  /** In file order. */
  items(evalSetId: string): EvalItem[] {
    return this.#items.all(evalSetId).map(toEvalItem)
  }

  /**
   * Idempotent: a rerun for the same item, contender and decoding config
   * (in any key order) stores nothing new and returns the generation already
   * recorded, so comparisons made against it stay valid.
   */
  recordGeneration(generation: NewGeneration): Generation {
    return this.#recordGeneration(generation)
  }

  /** The stored output for this item, contender and decoding config, so a rerun can skip the work. */
  findGeneration(evalItemId: string, contender: StoredContender, decoding: JsonObject): Generation | undefined {
    const row = this.#findGeneration.get({
      eval_item_id: evalItemId,
      model_id: contender.modelId,
      exit: contender.exit,
      decoding: encodeCanonicalJson(decoding, 'decoding'),
    })
    return row === undefined ? undefined : toGeneration(row)
  }

  getGeneration(id: string): Generation | undefined {
    const row = this.#getGeneration.get(id)
    return row === undefined ? undefined : toGeneration(row)
  }

  generations(evalItemId: string): Generation[] {
    return this.#generations.all(evalItemId).map(toGeneration)
  }

  /**
   * Stores one judge's verdicts on a pair in both presentation orders. The
   * same judge judging the same pair again replaces its earlier verdicts.
   */
  recordComparison(comparison: NewComparison): Comparison {
    const row = this.#putComparison({
      id: randomUUID(),
      generation_a_id: comparison.generationAId,
      generation_b_id: comparison.generationBId,
      judge: comparison.judge,
      verdict_ab: comparison.ab.verdict,
      reason_ab: comparison.ab.reason ?? null,
      reference_ab: comparison.ab.reference ?? null,
      verdict_ba: comparison.ba.verdict,
      reason_ba: comparison.ba.reason ?? null,
      reference_ba: comparison.ba.reference ?? null,
      created_at: this.#now(),
    })
    if (row !== undefined) return toComparison(row)
    for (const id of [comparison.generationAId, comparison.generationBId]) {
      if (this.#getGeneration.get(id) === undefined) throw new NotFoundError('generation', id)
    }
    throw new RangeError(
      `Generations ${comparison.generationAId} and ${comparison.generationBId} answer different eval items; ` +
        'only outputs for the same item can be compared',
    )
  }

  /** Every comparison on the set's items, in item order. */
  comparisons(evalSetId: string): Comparison[] {
    return this.#comparisons.all(evalSetId).map(toComparison)
  }

  /** This judge's comparison of two outputs (any judge's, the first stored, when none is named), stored with either one as A. */
  findComparison(generationId: string, otherGenerationId: string, judge?: string): Comparison | undefined {
    const row = this.#findComparison.get({ x: generationId, y: otherGenerationId, judge: judge ?? null })
    return row === undefined ? undefined : toComparison(row)
  }

  /** Every comparison on the set's items with the contenders it compares, in item order (one query, for tallies). */
  judgedComparisons(evalSetId: string): JudgedComparison[] {
    return this.#judgedComparisons.all(evalSetId).map((row) => ({
      ...toComparison(row),
      a: { modelId: row.a_model_id, exit: row.a_exit, decoding: decodeJson<JsonObject>(row.a_decoding) },
      b: { modelId: row.b_model_id, exit: row.b_exit, decoding: decodeJson<JsonObject>(row.b_decoding) },
    }))
  }

  /** One judge's latest comparisons (newest first), on one set or on all; each with the set it belongs to. */
  recentComparisons(judge: string, limit: number, evalSetId?: string): (Comparison & { evalSetId: string })[] {
    return this.#recentComparisons.all({ judge, set: evalSetId ?? null, limit }).map((row) => ({ ...toComparison(row), evalSetId: row.eval_set_id }))
  }

  /** Per contender and decoding, its outputs on the set, their mean decode speed and their summed stats. */
  contenderOutputs(evalSetId: string): ContenderOutputs[] {
    return this.#contenderOutputs.all(evalSetId).map((row) => ({
      modelId: row.model_id,
      exit: row.exit,
      decoding: decodeJson<JsonObject>(row.decoding),
      outputs: row.outputs,
      tokensPerSecond: row.tokens_per_second,
      stats:
        row.with_stats > 0
          ? { tokens: row.stat_tokens ?? 0, drafted: row.stat_drafted ?? 0, accepted: row.stat_accepted ?? 0, exitSum: row.stat_exit_sum ?? 0 }
          : null,
    }))
  }
}
