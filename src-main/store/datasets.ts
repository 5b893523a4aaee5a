/** Training datasets the user imported (the records stay in their file; this is the catalogue). */
import { randomUUID } from 'node:crypto'
import type { Database, Statement } from 'better-sqlite3'
import type { Clock } from './clock'
import { prepareReturning, type WriteReturning } from './returning'

export interface Dataset {
  id: string
  name: string
  /** The importer that reads it, e.g. `alpaca-json`, `sharegpt`. */
  format: string
  path: string
  recordCount: number
  /** Null until counted with a tokenizer. */
  tokenCount: number | null
  createdAt: number
}

export interface NewDataset {
  id?: string
  name: string
  format: string
  path: string
  recordCount: number
  tokenCount?: number | null
}

interface DatasetRow {
  id: string
  name: string
  format: string
  path: string
  record_count: number
  token_count: number | null
  created_at: number
}

function toDataset(row: DatasetRow): Dataset {
  return {
    id: row.id,
    name: row.name,
    format: row.format,
    path: row.path,
    recordCount: row.record_count,
    tokenCount: row.token_count,
    createdAt: row.created_at,
  }
}

export class DatasetsRepository {
  readonly #insert: WriteReturning<DatasetRow, DatasetRow>
  readonly #get: Statement<[string], DatasetRow>
  readonly #list: Statement<[], DatasetRow>
  readonly #delete: Statement<[string]>
  readonly #now: Clock

  constructor(db: Database, now: Clock) {
    this.#now = now
    this.#insert = prepareReturning<DatasetRow, DatasetRow>(
      db,
      `INSERT INTO datasets (id, name, format, path, record_count, token_count, created_at)
       VALUES (@id, @name, @format, @path, @record_count, @token_count, @created_at)
       RETURNING *`,
    )
    this.#get = db.prepare<[string], DatasetRow>('SELECT * FROM datasets WHERE id = ?')
    this.#list = db.prepare<[], DatasetRow>('SELECT * FROM datasets ORDER BY created_at DESC, rowid DESC')
    this.#delete = db.prepare<[string]>('DELETE FROM datasets WHERE id = ?')
  }

  add(dataset: NewDataset): Dataset {
    const row = this.#insert({
      id: dataset.id ?? randomUUID(),
      name: dataset.name,
      format: dataset.format,
      path: dataset.path,
      record_count: dataset.recordCount,
      token_count: dataset.tokenCount ?? null,
      created_at: this.#now(),
    })
    return toDataset(row!)
  }

  get(id: string): Dataset | undefined {
    const row = this.#get.get(id)
    return row === undefined ? undefined : toDataset(row)
  }

  /** Newest first. */
  list(): Dataset[] {
    return this.#list.all().map(toDataset)
  }

  /** Runs trained on it keep their history, without the link. Returns whether it existed. */
  remove(id: string): boolean {
    return this.#delete.run(id).changes > 0
  }
}
