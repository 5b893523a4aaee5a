/**
 * The wizard's starting hyperparameters, and a one-line reason for each. The
 * values are the contract's tuning defaults, imported from the one
 * dependency-free module of src-main/api the renderer may take values from.
 */
import type { TuneRequest, TuningDefaults } from '../../../src-main/api/contract'
import { adapterMethods, tuningDefaults, type AdapterMethod } from '../../../src-main/api/tuning-defaults'

export const tuneDefaults: Required<Pick<TuneRequest, keyof TuningDefaults>> = tuningDefaults

export type Hyperparameter = 'batchSize' | 'gradAccum' | 'lr' | 'weightDecay' | 'warmup' | 'schedule' | 'maxGradNorm' | 'seqLen' | 'seed' | 'valSplit' | 'checkpointEvery' | 'evalEvery'

export interface HyperparameterInfo {
  key: Hyperparameter
  label: string
  /** One line: what it does, and which way to turn it. */
  help: string
  kind: 'integer' | 'number' | 'choice'
  min?: number
  max?: number
  step?: number
  choices?: readonly string[]
}

export const hyperparameters: readonly HyperparameterInfo[] = [
  { key: 'lr', label: 'Learning rate', help: 'Peak step size; lower is safer for a pretrained model (SoFT used 2e-5 on Llama 2).', kind: 'number', min: 0, step: 1e-5 },
  { key: 'batchSize', label: 'Batch size', help: 'Records per micro-batch; memory grows with it.', kind: 'integer', min: 1 },
  { key: 'gradAccum', label: 'Gradient accumulation', help: 'Micro-batches per optimizer step: a larger effective batch at the same memory.', kind: 'integer', min: 1 },
  { key: 'seqLen', label: 'Sequence length', help: 'Longest record in tokens; longer ones are cut. Memory and time grow with it.', kind: 'integer', min: 2 },
  { key: 'warmup', label: 'Warmup steps', help: 'Steps over which the learning rate rises from 0 to its peak.', kind: 'integer', min: 0 },
  { key: 'schedule', label: 'Schedule', help: 'After warmup: cosine decays to 0 by the last step; constant keeps the peak.', kind: 'choice', choices: ['cosine', 'constant'] },
  { key: 'weightDecay', label: 'Weight decay', help: 'AdamW’s pull of the weights towards 0 each step (0.01 is usual).', kind: 'number', min: 0, step: 0.001 },
  { key: 'maxGradNorm', label: 'Gradient clipping', help: 'Largest gradient norm per step; stops one bad batch from wrecking the model (0 disables).', kind: 'number', min: 0, step: 0.1 },
  { key: 'valSplit', label: 'Validation share', help: 'Fraction of records held out to measure each exit’s loss.', kind: 'number', min: 0, max: 0.9, step: 0.01 },
  { key: 'evalEvery', label: 'Validate every', help: 'Steps between validations (0: only at the end).', kind: 'integer', min: 0 },
  { key: 'checkpointEvery', label: 'Checkpoint every', help: 'Steps between checkpoints: how much work a crash can cost (0: only at the end).', kind: 'integer', min: 0 },
  { key: 'seed', label: 'Seed', help: 'Fixes data order, the split and SortedNet’s sampling: same seed, same run.', kind: 'integer' },
]

export const modeInfo = {
  soft: { label: 'SoFT', help: 'Sorted Fine-Tuning: every chosen exit learns on every batch; each becomes a usable smaller model.' },
  sortednet: { label: 'SortedNet', help: 'Each step trains the full model and one randomly drawn exit: cheaper steps, slower to converge.' },
  sft: { label: 'SFT', help: 'Plain fine-tuning of the full model only: the baseline; its shallow exits produce gibberish.' },
} as const

/** What trains: every weight, or one of the contract's adapter methods on the frozen base. */
export type TrainingMethod = 'full' | AdapterMethod

export interface MethodInfo {
  id: TrainingMethod
  label: string
  help: string
}

/** Words for the methods this build knows; a method the contract adds later is still offered, under its own name. */
const methodWords: Partial<Record<TrainingMethod, Omit<MethodInfo, 'id'>>> = {
  full: { label: 'Full', help: 'Every weight trains: the most capacity, and the most memory (weights, gradients and AdamW moments of all of them).' },
  lora: { label: 'LoRA', help: 'A low-rank adapter on the frozen base: a small fraction of the memory; the result is a PEFT adapter listed under its base.' },
  dylora: { label: 'DyLoRA', help: 'LoRA trained at every rank up to r at once: after training, any smaller rank is a usable adapter too.' },
  qlora: { label: 'QLoRA', help: 'LoRA on a base held in 4-bit weights: the base takes about an eighth of its fp32 memory; the adapter is the same PEFT adapter, for the float base.' },
}

/** The methods the wizard offers: full tuning, then exactly the contract's adapter methods. */
export const trainingMethods: readonly MethodInfo[] = (['full', ...adapterMethods] as const).map((id) => ({ id, ...(methodWords[id] ?? { label: id.toUpperCase(), help: '' }) }))

export const loraTargetLabels: Record<string, string> = {
  q: 'q (query)',
  k: 'k (key)',
  v: 'v (value)',
  o: 'o (attention output)',
  gate: 'gate (MLP)',
  up: 'up (MLP)',
  down: 'down (MLP)',
}

/** The largest dataset upload in browser mode; the server enforces the same (services/datasets.ts). */
export const maxUploadBytes = 2 * 1024 * 1024
