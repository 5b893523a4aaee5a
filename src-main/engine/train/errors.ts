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
