/** Models on disk the app knows: bundled, imported from Hugging Face folders, or produced by a run. */
import { randomUUID } from 'node:crypto'
import type { Database, Statement, Transaction } from 'better-sqlite3'
import type { Clock } from './clock'
import { NotFoundError } from './errors'
import { decodeJson, encodeJson, type JsonObject } from './json'
import { prepareReturning, type WriteReturning } from './returning'

export type ModelSource = 'bundled' | 'imported' | 'trained'
/** How the app loads the model's weights (the engine's WeightPrecision). */
export type ModelPrecision = 'fp32' | 'int8' | 'int4'

/** An adapter's settings as the library records them (from its adapter_config.json and sorted.json). */
export interface AdapterSettings extends JsonObject {
  kind: 'lora' | 'dylora'
  rank: number
  alpha: number
  /** PEFT target modules (q_proj, …). */
  targets: string[]
  trainNorm: boolean
  /** A DyLoRA run's final validation loss per rank and exit (absent for LoRA, and for adapters listed before it was recorded). */
  resultsByRank?: Record<string, Record<string, number>>
}

export interface Model {
  id: string
  name: string
  /** Architecture family from config.json, e.g. `llama`, `qwen2`. */
  architecture: string
  /** The model's folder. */
  path: string
  source: ModelSource
  numLayers: number
  /** Layer counts of the sub-models this model serves, ascending. */
  exits: number[]
  /** Per-exit evaluation results and speed (the same figures as sorted.json). */
  results: JsonObject
  config: JsonObject
  /** The weight precision the user chose; fp32 until they choose. */
  precision: ModelPrecision
  /** For an adapter: the model it runs on (its path is then the PEFT folder); null for a model. */
  baseModelId: string | null
  adapter: AdapterSettings | null
  createdAt: number
  updatedAt: number
}

export interface NewModel {
  /** A stable id (e.g. for the bundled model); a UUID when omitted. */
  id?: string
  name: string
  architecture: string
  path: string
  source: ModelSource
  numLayers: number
  exits?: readonly number[]
  results?: JsonObject
  config?: JsonObject
  /** An adapter: its base model and settings, given together. */
  baseModelId?: string
  adapter?: AdapterSettings
}

interface ModelRow {
  id: string
  name: string
  architecture: string
  path: string
  source: ModelSource
  num_layers: number
  exits: string
  results: string
  config: string
  precision: ModelPrecision
  base_model_id: string | null
  adapter: string | null
  created_at: number
  updated_at: number
}

function toModel(row: ModelRow): Model {
  return {
    id: row.id,
    name: row.name,
    architecture: row.architecture,
    path: row.path,
    source: row.source,
    numLayers: row.num_layers,
    exits: decodeJson<number[]>(row.exits),
    results: decodeJson<JsonObject>(row.results),
    config: decodeJson<JsonObject>(row.config),
    precision: row.precision,
    baseModelId: row.base_model_id,
    adapter: row.adapter === null ? null : decodeJson<AdapterSettings>(row.adapter),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  }
}

/** Exits are layer counts 1…numLayers; stored ascending and without repeats. */
function normalizeExits(exits: readonly number[], numLayers: number): number[] {
  for (const exit of exits) {
    if (!Number.isInteger(exit) || exit < 1 || exit > numLayers) {
      throw new RangeError(`Exit ${exit} is not a layer count between 1 and ${numLayers}`)
    }
  }
  return [...new Set(exits)].sort((a, b) => a - b)
}

export class ModelsRepository {
  readonly #insert: WriteReturning<ModelRow, ModelRow>
  readonly #get: Statement<[string], ModelRow>
  readonly #list: Statement<[], ModelRow>
  readonly #delete: Statement<[string]>
  readonly #setExits: WriteReturning<{ id: string; exits: string; now: number }, ModelRow>
  readonly #setResults: WriteReturning<{ id: string; results: string; now: number }, ModelRow>
  readonly #setPrecision: WriteReturning<{ id: string; precision: ModelPrecision; now: number }, ModelRow>
  readonly #updateExits: Transaction<(id: string, exits: readonly number[]) => Model>
  readonly #upsert: WriteReturning<ModelRow, ModelRow>
  readonly #now: Clock

  constructor(db: Database, now: Clock) {
    this.#now = now
    this.#insert = prepareReturning<ModelRow, ModelRow>(
      db,
      `INSERT INTO models (id, name, architecture, path, source, num_layers, exits, results, config, base_model_id, adapter, created_at, updated_at)
       VALUES (@id, @name, @architecture, @path, @source, @num_layers, @exits, @results, @config, @base_model_id, @adapter, @created_at, @updated_at)
       RETURNING *`,
    )
    this.#get = db.prepare<[string], ModelRow>('SELECT * FROM models WHERE id = ?')
    this.#list = db.prepare<[], ModelRow>('SELECT * FROM models ORDER BY created_at, rowid')
    this.#delete = db.prepare<[string]>('DELETE FROM models WHERE id = ?')
    this.#setExits = prepareReturning<{ id: string; exits: string; now: number }, ModelRow>(
      db,
      'UPDATE models SET exits = @exits, updated_at = @now WHERE id = @id RETURNING *',
    )
    this.#setResults = prepareReturning<{ id: string; results: string; now: number }, ModelRow>(
      db,
      'UPDATE models SET results = @results, updated_at = @now WHERE id = @id RETURNING *',
    )
    this.#setPrecision = prepareReturning<{ id: string; precision: ModelPrecision; now: number }, ModelRow>(
      db,
      'UPDATE models SET precision = @precision, updated_at = @now WHERE id = @id RETURNING *',
    )
    // A bundled model keeps its id (and so its chats and results) across app
    // updates and moves; its folder and metadata follow the shipped files.
    this.#upsert = prepareReturning<ModelRow, ModelRow>(
      db,
      `INSERT INTO models (id, name, architecture, path, source, num_layers, exits, results, config, created_at, updated_at)
       VALUES (@id, @name, @architecture, @path, @source, @num_layers, @exits, @results, @config, @created_at, @updated_at)
       ON CONFLICT (id) DO UPDATE SET name = excluded.name, architecture = excluded.architecture, path = excluded.path,
         source = excluded.source, num_layers = excluded.num_layers, exits = excluded.exits, results = excluded.results,
         config = excluded.config, updated_at = excluded.updated_at
       RETURNING *`,
    )
    // Read-then-write: the exits are checked against the model's layer count.
    this.#updateExits = db.transaction((id: string, exits: readonly number[]) => {
      const model = this.get(id)
      if (model === undefined) throw new NotFoundError('model', id)
      const row = this.#setExits({ id, exits: encodeJson(normalizeExits(exits, model.numLayers), 'exits'), now: this.#now() })
      return toModel(row!)
    })
  }

  add(model: NewModel): Model {
    return toModel(this.#insert(this.#row(model))!)
  }

  /** Adds the model, or refreshes the row with the same id (a bundled model shipped again). */
  put(model: NewModel & { id: string }): Model {
    return toModel(this.#upsert(this.#row(model))!)
  }

  #row(model: NewModel): ModelRow {
    const at = this.#now()
    if ((model.baseModelId === undefined) !== (model.adapter === undefined)) throw new RangeError('An adapter needs both its base model and its settings')
    return {
      id: model.id ?? randomUUID(),
      name: model.name,
      architecture: model.architecture,
      path: model.path,
      source: model.source,
      num_layers: model.numLayers,
      exits: encodeJson(normalizeExits(model.exits ?? [], model.numLayers), 'exits'),
      results: encodeJson(model.results ?? {}, 'results'),
      config: encodeJson(model.config ?? {}, 'config'),
      // Not written by add/put (the column's default; a bundled model shipped again keeps the user's choice).
      precision: 'fp32',
      base_model_id: model.baseModelId ?? null,
      adapter: model.adapter === undefined ? null : encodeJson(model.adapter, 'adapter'),
      created_at: at,
      updated_at: at,
    }
  }

  get(id: string): Model | undefined {
    const row = this.#get.get(id)
    return row === undefined ? undefined : toModel(row)
  }

  /** Oldest first, so the bundled model leads. */
  list(): Model[] {
    return this.#list.all().map(toModel)
  }

  /** Deletes the model with its runs and evaluation outputs; chats keep going without a model. Returns whether it existed. */
  remove(id: string): boolean {
    return this.#delete.run(id).changes > 0
  }

  updateExits(id: string, exits: readonly number[]): Model {
    return this.#updateExits(id, exits)
  }

  /** Records the weight precision the app loads this model in. */
  updatePrecision(id: string, precision: ModelPrecision): Model {
    const row = this.#setPrecision({ id, precision, now: this.#now() })
    if (row === undefined) throw new NotFoundError('model', id)
    return toModel(row)
  }

  /** Replaces the per-exit results (e.g. after an evaluation or benchmark). */
  updateResults(id: string, results: JsonObject): Model {
    const row = this.#setResults({ id, results: encodeJson(results, 'results'), now: this.#now() })
    if (row === undefined) throw new NotFoundError('model', id)
    return toModel(row)
  }
}
