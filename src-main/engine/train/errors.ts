/**
 * Training failures that are the run's data or files, not a bug: the CLI
 * prints them as one line (exit 1) and the app stores the message as the
 * run's error. Each names the step, exit, file or folder concerned.
 */
export class TrainingError extends Error {
  constructor(message: string) {
    super(message)
    this.name = new.target.name
  }
}

/** No checkpoint can be resumed from (all damaged, or made for another model). */
export class CheckpointError extends TrainingError {}

/** The loss or the gradient norm stopped being a finite number. */
export class DivergedError extends TrainingError {}

/**
 * A request that cannot run as given (the user's to fix, not a bug).
 * `settings` are the request fields at fault, so that a caller can point at
 * them (the CLI by flag, the app by form field).
 */
export class TuneSetupError extends Error {
  constructor(
    message: string,
    readonly settings: string[] = [],
  ) {
    super(message)
    this.name = 'TuneSetupError'
  }
}

/** How a caller names a request field in messages: `--seq-len` for the CLI, `seqLen` for the app. */
export type SettingNamer = (setting: string) => string
