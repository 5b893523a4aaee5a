/**
 * Routes `sorted <command>` to its module and turns errors into messages and
 * exit codes. Each command lives in its own module.
 */
import packageJson from '../../package.json'
import { ConfigError } from '../engine/model/config'
import { InsufficientMemoryError } from '../engine/generate/memory-estimate'
import { ModelExportError } from '../engine/model/export'
import { ModelImportError } from '../engine/model/import'
import { PrequantizedConfigError } from '../engine/model/quant/prequantized-config'
import { AdapterError } from '../engine/model/peft-adapter'
import { SortedFileWriteError } from '../engine/model/sorted-file'
import { DraftCalibrationError } from '../engine/generate/draft-calibration'
import { SafetensorsError } from '../engine/model/safetensors'
import { TokenizerFileError } from '../engine/tokenizer/files'
import { DatasetError } from '../engine/data'
import { TrainingError } from '../engine/train/errors'
import { UnusableFolderError } from '../base/writable-folder'
import { MigrationError, StoreDiskFullError, StoreFileError, StoreOpenError, StoreVersionError } from '../store'
import { UsageError, type Command } from './commands'
import { generateCommand } from './generate'
import { calibrateCommand } from './calibrate'
import { quantizeCommand } from './quantize'
import { mergeCommand } from './merge'
import { serveCommand } from './serve'
import { evalLossCommand, tuneCommand } from './tune'
import { evalCommand } from './eval'
import { exportJobCommand } from './export-job'
import { isSystemError, systemErrorLine, wantsStack } from './system-error'

const commands: Command[] = [serveCommand, generateCommand, calibrateCommand, quantizeCommand, tuneCommand, exportJobCommand, evalLossCommand, evalCommand, mergeCommand]

function help(): string {
  const width = Math.max(...commands.map((c) => c.name.length))
  return [
    `Sorted Studio ${packageJson.version}: dynamic-depth language models on your own machine.`,
    '',
    'Usage: sorted <command> [options]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `sorted <command> --help` for a command\'s options.',
    'Options: --help, --version',
  ].join('\n')
}

export async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    process.stdout.write(`${help()}\n`)
    return first === undefined ? 2 : 0
  }
  if (first === '--version' || first === '-v') {
    process.stdout.write(`${packageJson.version}\n`)
    return 0
  }
  const command = commands.find((c) => c.name === first)
  if (!command) {
    process.stderr.write(`sorted: unknown command "${first}".\n\n${help()}\n`)
    return 2
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`Usage: ${command.usage}\n`)
    return 0
  }
  try {
    return await command.run(rest)
  } catch (error) {
    // parseArgs reports unknown or malformed options with ERR_PARSE_ARGS_* codes.
    const code = (error as NodeJS.ErrnoException).code ?? ''
    if (error instanceof UsageError || code.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`sorted ${command.name}: ${(error as Error).message}\nUsage: ${command.usage}\n`)
      return 2
    }
    // A file or folder the user pointed at is unusable (or its disk is full):
    // say which and why in one line; the stack only for SORTED_DEBUG=1.
    const fileErrors = [
      StoreVersionError,
      StoreFileError,
      StoreOpenError,
      StoreDiskFullError,
      MigrationError,
      UnusableFolderError,
      ModelImportError,
      ModelExportError,
      PrequantizedConfigError,
      InsufficientMemoryError,
      AdapterError,
      SortedFileWriteError,
      DraftCalibrationError,
      ConfigError,
      SafetensorsError,
      TokenizerFileError,
      DatasetError,
      TrainingError,
    ]
    const line = fileErrors.some((kind) => error instanceof kind)
      ? (error as Error).message
      : isSystemError(error)
        ? systemErrorLine(error)
        : undefined
    // Anything else is a bug: index.ts reports it (its stack only for SORTED_DEBUG=1).
    if (line === undefined) throw error
    process.stderr.write(`sorted ${command.name}: ${line}\n`)
    if (wantsStack()) process.stderr.write(`${(error as Error).stack}\n`)
    return 1
  }
}
