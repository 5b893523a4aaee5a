/**
 * What a run uses for each setting it is not given: the one list of tuning
 * defaults. TuneRequest fills them in, `sorted tune` shows and uses them
 * (cli/tune.ts), and the wizard's starting values are typed by them
 * (src-renderer/src/tune/defaults.ts).
 *
 * This module imports nothing, so it is the one part of src-main/api the
 * renderer may import as a value (eslint.config.js allows exactly this file):
 * the wizard starts from these very values.
 */
export const tuningDefaults = {
  exits: 'all',
  batchSize: 4,
  gradAccum: 1,
  lr: 1e-4,
  weightDecay: 0.01,
  warmup: 0,
  schedule: 'cosine',
  maxGradNorm: 1,
  seqLen: 512,
  seed: 42,
  shuffle: true,
  valSplit: 0.05,
  onError: 'stop',
  checkpointEvery: 50,
  evalEvery: 0,
} as const
export type TuningDefaults = typeof tuningDefaults

/**
 * Adapter methods a run may train instead of every weight (TuneRequest's
 * `adapter`): the wizard offers exactly this list, so a method added here
 * appears there. `rank`, `alpha` and `targets` are the engine's LoRA
 * defaults (engine/model/lora.ts loraDefaults; a test keeps them equal).
 */
export const adapterMethods = ['lora', 'dylora', 'qlora'] as const
export type AdapterMethod = (typeof adapterMethods)[number]
export const loraTargets = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] as const
export type LoraTargetName = (typeof loraTargets)[number]
export const adapterDefaults = { rank: 16, alpha: 32, targets: loraTargets, trainNorm: false } as const
