/**
 * An adapter merged into its base model as a plain Hugging Face folder
 * (W + alpha/r · B·A, the base's tokenizer, the adapter's sorted.json): what
 * `sorted merge` writes, and what the app's "Merge and export" runs in a
 * worker. The folder appears whole or not at all (export.ts).
 */
import { exportModel, type ExportResult } from './export'
import { loadModelFolder } from './import'
import { AdapterError, mergedWeights, readPeftAdapter } from './peft-adapter'

export interface MergeAdapterOptions {
  baseDir: string
  adapterDir: string
  outDir: string
  /** A DyLoRA adapter's nested rank to merge, 1..r (default r). */
  rank?: number | undefined
  onProgress?: (fraction: number, message: string) => void
}

export function mergeAdapterFolder({ baseDir, adapterDir, outDir, rank, onProgress }: MergeAdapterOptions): ExportResult {
  const progress = onProgress ?? (() => {})
  const base = loadModelFolder(baseDir, (fraction, message) => progress(fraction * 0.6, message))
  progress(0.6, 'Reading the adapter')
  const adapter = readPeftAdapter(adapterDir, base.config)
  if (rank !== undefined && rank > adapter.spec.rank) throw new AdapterError(`rank ${rank} is above the adapter's r ${adapter.spec.rank} (${adapterDir})`)
  progress(0.7, 'Merging the adapter into the weights')
  const weights = mergedWeights(base.config, base.weights, adapter, rank)
  progress(0.8, 'Writing the merged model')
  const result = exportModel({ config: base.config, weights, sorted: adapter.sorted }, outDir, { tokenizerFrom: baseDir })
  progress(1, 'Merged')
  return result
}
