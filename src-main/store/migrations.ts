/**
 * The schema, as numbered migrations. The SQL lives inline so the bundler
 * ships it inside the main-process build.
 *
 * Never edit a migration that has shipped: databases in the wild already ran
 * it. Change the schema by appending the next version.
 *
 * Conventions (migration 1 onwards):
 * - Tables are STRICT, so a wrong-typed value (a string loss, a fractional
 *   step) is refused instead of stored.
 * - Ids are TEXT (UUIDs, or stable names for bundled things).
 * - Times are INTEGER unix milliseconds, `*_at`.
 * - JSON columns are TEXT with CHECK (json_valid(...)).
 * - Enumerations are CHECK (... IN (...)); free descriptors such as a dataset
 *   `format` are not, so a new importer needs no migration.
 * - A child that belongs to its parent is deleted with it (ON DELETE
 *   CASCADE); a mere reference (a chat's model, a run's dataset or output
 *   model) is cleared (ON DELETE SET NULL). Runs, generations and so
 *   comparisons belong to the model they were made with.
 * - Every foreign key column is indexed, so cascades do not scan.
 */

export interface Migration {
  /** 1, 2, 3… in order; stored in `PRAGMA user_version` once applied. */
  readonly version: number
  readonly name: string
  readonly sql: string
}

const initial = /* sql */ `
CREATE TABLE settings (
  key        TEXT PRIMARY KEY,
  value      TEXT NOT NULL CHECK (json_valid(value)),
  updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE models (
  id           TEXT PRIMARY KEY,
  name         TEXT NOT NULL CHECK (name <> ''),
  architecture TEXT NOT NULL,
  path         TEXT NOT NULL,
  source       TEXT NOT NULL CHECK (source IN ('bundled', 'imported', 'trained')),
  num_layers   INTEGER NOT NULL CHECK (num_layers >= 1),
  -- layer counts of the sub-models this model was sorted for, ascending
  exits        TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(exits) AND json_type(exits) = 'array'),
  -- per-exit evaluation results and speed, as in sorted.json
  results      TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(results) AND json_type(results) = 'object'),
  config       TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(config) AND json_type(config) = 'object'),
  created_at   INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL
) STRICT;

CREATE TABLE datasets (
  id           TEXT PRIMARY KEY,
  name         TEXT NOT NULL CHECK (name <> ''),
  format       TEXT NOT NULL,
  path         TEXT NOT NULL,
  record_count INTEGER NOT NULL CHECK (record_count >= 0),
  -- NULL until counted: the count depends on a tokenizer
  token_count  INTEGER CHECK (token_count IS NULL OR token_count >= 0),
  created_at   INTEGER NOT NULL
) STRICT;

CREATE TABLE runs (
  id              TEXT PRIMARY KEY,
  model_id        TEXT NOT NULL REFERENCES models (id) ON DELETE CASCADE,
  dataset_id      TEXT REFERENCES datasets (id) ON DELETE SET NULL,
  mode            TEXT NOT NULL CHECK (mode IN ('soft', 'sortednet', 'sft')),
  config          TEXT NOT NULL CHECK (json_valid(config) AND json_type(config) = 'object'),
  status          TEXT NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'running', 'paused', 'completed', 'failed', 'cancelled')),
  error           TEXT,
  total_steps     INTEGER NOT NULL CHECK (total_steps >= 0),
  last_step       INTEGER NOT NULL DEFAULT 0 CHECK (last_step >= 0),
  output_model_id TEXT REFERENCES models (id) ON DELETE SET NULL,
  created_at      INTEGER NOT NULL,
  started_at      INTEGER,
  finished_at     INTEGER
) STRICT;
CREATE INDEX runs_by_model ON runs (model_id);
CREATE INDEX runs_by_dataset ON runs (dataset_id);
CREATE INDEX runs_by_output_model ON runs (output_model_id);
CREATE INDEX runs_by_status ON runs (status);

CREATE TABLE run_metrics (
  run_id            TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  step              INTEGER NOT NULL CHECK (step >= 0),
  -- the exit (layer count) the figure is for; NULL for run-wide figures
  exit              INTEGER CHECK (exit IS NULL OR exit >= 1),
  split             TEXT NOT NULL CHECK (split IN ('train', 'validation')),
  -- NULL when not measured, or NaN (SQLite stores NaN as NULL)
  loss              REAL,
  lr                REAL,
  tokens_per_second REAL,
  recorded_at       INTEGER NOT NULL
) STRICT;
-- A metric re-recorded after a crash replaces the first. NULLs are distinct
-- in a UNIQUE constraint, so run-wide rows are keyed as exit 0.
CREATE UNIQUE INDEX run_metrics_identity ON run_metrics (run_id, step, ifnull(exit, 0), split);

CREATE TABLE checkpoints (
  id         TEXT PRIMARY KEY,
  run_id     TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  step       INTEGER NOT NULL CHECK (step >= 0),
  path       TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  UNIQUE (run_id, step)
) STRICT;

CREATE TABLE chats (
  id            TEXT PRIMARY KEY,
  title         TEXT NOT NULL,
  model_id      TEXT REFERENCES models (id) ON DELETE SET NULL,
  system_prompt TEXT NOT NULL DEFAULT '',
  settings      TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(settings) AND json_type(settings) = 'object'),
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX chats_by_updated ON chats (updated_at);
CREATE INDEX chats_by_model ON chats (model_id);

CREATE TABLE messages (
  id                TEXT PRIMARY KEY,
  chat_id           TEXT NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
  position          INTEGER NOT NULL CHECK (position >= 0),
  role              TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
  content           TEXT NOT NULL,
  -- the budget (layer count) the reply was generated at; NULL for user text
  exit              INTEGER CHECK (exit IS NULL OR exit >= 1),
  -- the exit each generated token left at, when the budget varied (auto, slider moves)
  token_exits       TEXT CHECK (token_exits IS NULL OR (json_valid(token_exits) AND json_type(token_exits) = 'array')),
  settings          TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(settings) AND json_type(settings) = 'object'),
  tokens_per_second REAL,
  created_at        INTEGER NOT NULL,
  UNIQUE (chat_id, position)
) STRICT;

CREATE TABLE eval_sets (
  id         TEXT PRIMARY KEY,
  name       TEXT NOT NULL CHECK (name <> ''),
  format     TEXT NOT NULL,
  item_count INTEGER NOT NULL CHECK (item_count >= 0),
  created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE eval_items (
  id          TEXT PRIMARY KEY,
  eval_set_id TEXT NOT NULL REFERENCES eval_sets (id) ON DELETE CASCADE,
  idx         INTEGER NOT NULL CHECK (idx >= 0),
  instruction TEXT NOT NULL,
  input       TEXT NOT NULL DEFAULT '',
  reference   TEXT,
  UNIQUE (eval_set_id, idx)
) STRICT;

CREATE TABLE generations (
  id                TEXT PRIMARY KEY,
  eval_item_id      TEXT NOT NULL REFERENCES eval_items (id) ON DELETE CASCADE,
  model_id          TEXT NOT NULL REFERENCES models (id) ON DELETE CASCADE,
  exit              INTEGER NOT NULL CHECK (exit >= 1),
  -- canonical JSON (sorted keys), so equal configs are equal text
  decoding          TEXT NOT NULL CHECK (json_valid(decoding) AND json_type(decoding) = 'object'),
  output            TEXT NOT NULL,
  tokens_per_second REAL,
  created_at        INTEGER NOT NULL,
  UNIQUE (eval_item_id, model_id, exit, decoding)
) STRICT;
CREATE INDEX generations_by_model ON generations (model_id, exit);

-- PandaLM judges each pair twice, once per presentation order, to cancel
-- position bias. A verdict is as the judge gave it for that order: in
-- order BA, '1' means generation B won.
CREATE TABLE comparisons (
  id              TEXT PRIMARY KEY,
  eval_item_id    TEXT NOT NULL REFERENCES eval_items (id) ON DELETE CASCADE,
  generation_a_id TEXT NOT NULL REFERENCES generations (id) ON DELETE CASCADE,
  generation_b_id TEXT NOT NULL REFERENCES generations (id) ON DELETE CASCADE,
  -- 'reference', 'human', 'pandalm:<model>'
  judge           TEXT NOT NULL CHECK (judge <> ''),
  verdict_ab      TEXT NOT NULL CHECK (verdict_ab IN ('1', '2', 'Tie')),
  reason_ab       TEXT,
  reference_ab    TEXT,
  verdict_ba      TEXT NOT NULL CHECK (verdict_ba IN ('1', '2', 'Tie')),
  reason_ba       TEXT,
  reference_ba    TEXT,
  created_at      INTEGER NOT NULL,
  CHECK (generation_a_id <> generation_b_id),
  UNIQUE (generation_a_id, generation_b_id, judge)
) STRICT;
CREATE INDEX comparisons_by_item ON comparisons (eval_item_id);
CREATE INDEX comparisons_by_generation_b ON comparisons (generation_b_id);
`

// The chat shows which exit produced each piece of a reply, after a reload
// too: token_exits says which exit, token_lengths how many characters (UTF-16
// code units) of the content each token wrote.
const messageTokenLengths = /* sql */ `
ALTER TABLE messages ADD COLUMN token_lengths TEXT
  CHECK (token_lengths IS NULL OR (json_valid(token_lengths) AND json_type(token_lengths) = 'array'));
`

// The weight precision the user chose for a model: every load of it in the
// app (chat, comparisons, evaluations, the local API) uses it.
const modelPrecision = /* sql */ `
ALTER TABLE models ADD COLUMN precision TEXT NOT NULL DEFAULT 'fp32' CHECK (precision IN ('fp32', 'int8', 'int4'));
`

// What decoding measured on an evaluation answer beside its speed (Exact's
// drafted and accepted tokens, Auto's exits), so a rerun that reuses the
// answer reports the same figures; NULL where nothing was measured.
const generationStats = /* sql */ `
ALTER TABLE generations ADD COLUMN stats TEXT
  CHECK (stats IS NULL OR (json_valid(stats) AND json_type(stats) = 'object'));
`

// A LoRA / DyLoRA adapter is a library entry of its own (its PEFT folder is
// its path) listed under the base model it runs on; it belongs to that base
// and goes with it. `adapter` holds its settings (kind, rank, alpha, targets,
// trainNorm); both columns are NULL for a model.
const modelAdapters = /* sql */ `
ALTER TABLE models ADD COLUMN base_model_id TEXT REFERENCES models (id) ON DELETE CASCADE;
ALTER TABLE models ADD COLUMN adapter TEXT
  CHECK (adapter IS NULL OR (json_valid(adapter) AND json_type(adapter) = 'object'));
CREATE INDEX models_by_base ON models (base_model_id);
`

export const migrations: readonly Migration[] = [
  { version: 1, name: 'initial', sql: initial },
  { version: 2, name: 'message token lengths', sql: messageTokenLengths },
  { version: 3, name: 'model precision', sql: modelPrecision },
  { version: 4, name: 'generation stats', sql: generationStats },
  { version: 5, name: 'model adapters', sql: modelAdapters },
]
