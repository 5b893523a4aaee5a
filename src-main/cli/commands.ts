/** The `sorted` command table: each command is one entry, listed by `--help`. */
export interface Command {
  name: string
  summary: string
  usage: string
  /** Resolves to the process exit code; a long-running command resolves when it stops. */
  run(args: string[]): Promise<number>
}

/** A user mistake on the command line: printed without a stack, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'UsageError'
  }
}
