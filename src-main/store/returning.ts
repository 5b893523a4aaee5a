/**
 * INSERT/UPDATE … RETURNING statements, run to completion.
 *
 * better-sqlite3's `.get()` steps a statement once and then resets it. For a
 * write outside an explicit transaction, SQLite commits only when the
 * statement finishes, which then happens inside that reset, and better-sqlite3
 * ignores what the reset returns: a commit that fails (a full disk) was lost,
 * and the caller got the new row back while nothing was stored. `.all()` steps
 * until the statement is done, so the commit happens in a step and its error
 * is thrown. Every RETURNING statement in the store goes through here.
 */
import type { Database } from 'better-sqlite3'

/** Runs the write and gives the row it returned, or undefined when it matched none. */
export type WriteReturning<Params extends object, Row> = (params: Params) => Row | undefined

export function prepareReturning<Params extends object, Row>(db: Database, sql: string): WriteReturning<Params, Row> {
  const statement = db.prepare<[Params], Row>(sql)
  return (params) => statement.all(params)[0]
}
