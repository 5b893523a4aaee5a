/**
 * What can be wrong with a dataset, located precisely enough for a user to
 * open the file and fix it: `data.jsonl:17: field "output": expected a
 * string, got number`, or `data.json[3]: …` for the fourth record of a JSON
 * array.
 */

/** Where a record sits in its file. */
export interface RecordLocation {
  file: string
  /** 1-based line, for a JSONL file (and for a JSON file that does not parse). */
  line?: number
  /** 0-based position in a JSON array. */
  index?: number
}

/** One thing wrong with one record (or with the whole file, when neither line nor index is set). */
export interface RecordProblem extends RecordLocation {
  /** The field as a path (`conversations[2].value`); absent when the record or file as a whole is wrong. */
  field?: string
  message: string
}

/** A record left out under `onError: 'skip'`, with every reason. */
export interface SkippedRecord extends RecordLocation {
  problems: RecordProblem[]
}

/** At most this many problems are kept (and listed in the message); the rest are counted. */
export const MAX_LISTED_PROBLEMS = 50

/** `file:line`, `file[index]` or `file`. */
export function formatLocation(location: RecordLocation): string {
  if (location.line !== undefined) return `${location.file}:${location.line}`
  if (location.index !== undefined) return `${location.file}[${location.index}]`
  return location.file
}

/** `data.jsonl:17: field "output": expected a string, got number`. */
export function formatProblem(problem: RecordProblem): string {
  const field = problem.field === undefined ? '' : `field "${problem.field}": `
  return `${formatLocation(problem)}: ${field}${problem.message}`
}

/**
 * A dataset that cannot be trained on. `problems` lists the first
 * {@link MAX_LISTED_PROBLEMS}; `total` counts them all.
 */
export class DatasetError extends Error {
  readonly problems: RecordProblem[]
  readonly total: number

  constructor(summary: string, problems: RecordProblem[], total = problems.length) {
    const listed = problems.slice(0, MAX_LISTED_PROBLEMS)
    const more = total - listed.length
    const lines = listed.map((p) => `  ${formatProblem(p)}`)
    if (more > 0) lines.push(`  … and ${more} more problem${more === 1 ? '' : 's'}`)
    super(lines.length === 0 ? summary : `${summary}\n${lines.join('\n')}`)
    this.name = 'DatasetError'
    this.problems = listed
    this.total = total
  }

  /** A problem with the file as a whole (unreadable, not JSON, no records). */
  static file(file: string, message: string, line?: number): DatasetError {
    const problem: RecordProblem = line === undefined ? { file, message } : { file, line, message }
    return new DatasetError(formatProblem(problem), [])
  }
}

/**
 * Collects problems while a dataset is read: keeps the first
 * {@link MAX_LISTED_PROBLEMS} for the error message and counts the rest, so a
 * million broken lines cost a counter, not a million strings.
 */
export class ProblemList {
  readonly listed: RecordProblem[] = []
  total = 0

  add(problem: RecordProblem): void {
    this.total++
    if (this.listed.length < MAX_LISTED_PROBLEMS) this.listed.push(problem)
  }

  /** Throws one DatasetError listing them, when there are any. */
  throwIfAny(file: string): void {
    if (this.total === 0) return
    const summary = `${file}: ${this.total} problem${this.total === 1 ? '' : 's'} in the dataset (nothing was imported)`
    throw new DatasetError(summary, this.listed, this.total)
  }
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
