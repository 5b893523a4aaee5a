/**
 * A run's dataset exactly as its trainer sees it: the model's tokenizer and
 * chat template (or the Alpaca prompt without one), its vocabulary bounding
 * the ids, records cut to seqLen. The tune job and the dataset preview both
 * read data through here, so what the preview shows is what is trained on.
 * Also the step arithmetic both the job and the estimate use.
 */
import { loadDataset, splitDataset, type ErrorPolicy, type LoadedDataset } from '../data'
import { chatFormatterFor } from '../tokenizer/chat-template'
import { loadTokenizer } from '../tokenizer/tokenizer'

export interface TuneData {
  dataset: LoadedDataset
  /** How text records were turned into a prompt: the model's chat template, or the Alpaca prompt. */
  template: 'chat-template' | 'alpaca'
}

export function openTuneData(modelPath: string, dataPath: string, options: { seqLen: number; onError: ErrorPolicy; vocabSize: number }): TuneData {
  const tokenizer = loadTokenizer(modelPath)
  const formatter = chatFormatterFor(modelPath, tokenizer)
  const dataset = loadDataset(dataPath, {
    seqLen: options.seqLen,
    onError: options.onError,
    vocabSize: options.vocabSize,
    ...(tokenizer ? { tokenizer } : {}),
    ...(formatter ? { formatter } : {}),
  })
  return { dataset, template: formatter ? 'chat-template' : 'alpaca' }
}

/** Records in the training and validation parts of a dataset of `records` (splitDataset's own rule). */
export function splitSizes(records: number, valSplit: number, seed: number): { train: number; validation: number } {
  const { train, validation } = splitDataset(Array.from({ length: records }, (_, i) => i), { valFraction: valSplit, seed })
  return { train: train.length, validation: validation.length }
}

/** Optimizer steps of a run: maxSteps, else `epochs` (default 1) passes over the micro-batches, gradAccum per step. */
export function plannedSteps(batchesPerEpoch: number, options: { epochs?: number | undefined; maxSteps?: number | undefined; gradAccum: number }): number {
  return options.maxSteps ?? Math.max(1, Math.ceil(((options.epochs ?? 1) * batchesPerEpoch) / options.gradAccum))
}

/** Validations a run of `steps` makes: every evalEvery steps before the end, and one at the end. */
export function plannedValidations(steps: number, evalEvery: number): number {
  return (evalEvery > 0 ? Math.floor((steps - 1) / evalEvery) : 0) + 1
}
