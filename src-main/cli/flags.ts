/**
 * How the CLI names a request field in messages: the engine and services
 * report a setting by its field name (`seqLen`, `outDir`), through a
 * SettingNamer, and every command turns it into the flag the user typed
 * (`--seq-len`, `--out`) with this one table.
 */
import { TuneSetupError } from '../engine/train/errors'
import { UsageError } from './commands'

/** Fields whose flag is not simply their kebab-case name. */
const flagNames: Record<string, string> = {
  modelPath: '--model',
  dataPath: '--data',
  outDir: '--out',
  shuffle: '--no-shuffle',
  setPath: '--set',
}

/** `seqLen` → `--seq-len`, `outDir` → `--out`. */
export function flagOf(setting: string): string {
  return flagNames[setting] ?? `--${setting.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`
}

/** A setting the engine refused (its message already names flags, through flagOf) as a usage error; anything else as it is. */
export function asUsageError(error: unknown): unknown {
  return error instanceof TuneSetupError ? new UsageError(error.message) : error
}

/** A usage error that puts the flag of `setting` in front of an engine message that does not name it. */
export function flagError(setting: string, error: unknown): UsageError {
  return new UsageError(`${flagOf(setting)}: ${error instanceof Error ? error.message : String(error)}`)
}
