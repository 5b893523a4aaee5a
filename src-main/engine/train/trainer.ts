/**
 * The training loop of Sorted Fine-Tuning, on compiled ONNX graphs.
 *
 * Modes:
 *  - soft: every configured exit's loss on every batch, objective = their mean;
 *  - sft: the full model only (the baseline);
 *  - sortednet: each step trains the full model and ONE other exit drawn
 *    uniformly from the configured exits (seeded by seed and step), running
 *    each sub-model's own truncated graph and averaging the two gradients
 *    (SortedNet's sampling with gradient accumulation).
 *
 * With an adapter (options.adapter), the optimizer updates only the LoRA
 * A and B matrices (and the shared final norm with trainNorm); the base
 * weights are fed to every graph as frozen inputs and have no moments.
 * DyLoRA draws each step's rank b uniformly in [1, R] from the same
 * (seed, step) stream as SortedNet's exit (its next draw) and trains the
 * truncated A[:b], B[:, :b] with scale alpha/b: every rank ≤ b gets gradient
 * (the paper's plain update rule, not its "frozen" variant).
 *
 * Everything a step depends on is derived from (seed, step): the batches
 * (micro-batch k = step·gradAccum + a), the sampled exits and rank, the
 * learning rate. A checkpoint therefore needs only parameters, AdamW moments, the
 * step and the metric history, and a resumed run repeats the uninterrupted
 * one exactly. Gradient accumulation weights each micro-batch by its number
 * of counted targets, so the result equals one big batch's mean loss.
 *
 * A step reads like nanoGPT's train.py: one loop over the step's
 * sub-models and micro-batches runs the gradients graph and adds each
 * gradient, scaled once, into one sum; AdamW then applies it in place
 * (adamw-in-place.ts), so a trained parameter costs its value, its two
 * moments and one gradient, 16 bytes, and no step copies them all.
 * Every mode and every gradAccum takes this same path. Graph input and
 * output names come from graph-names.ts, as the graph builders use them.
 */
import { availableParallelism } from 'node:os'
import type { ExecutionProviderPreference } from '../onnx/providers'
import { initialAdapter, loraScale, loraSlots } from '../model/lora'
import { weightOf, weightSlots } from '../model/weight-map'
import type { ModelConfig, ModelWeights } from '../model/types'
import { mulberry32 } from '../data/random'
import type { Graph } from '../onnx/graph'
import { contribOpSupported, settleProvider } from '../onnx/contrib'
import { matmulNBitsProbe } from '../onnx/ops/contrib'
import { toModelProto } from '../onnx/serialize'
import { loadSession, tensor, type ort, type ProviderId } from '../onnx/session'
import { adamwStep } from './adamw-in-place'
import { readLatestCheckpoint, writeCheckpoint } from './checkpoint'
import { collectGarbage } from '../../base/collect-garbage'
import { CheckpointError, DivergedError, TrainingError } from './errors'
import { graphNames as names } from './graph-names'
import { learningRate, type ScheduleKind } from './schedule'
import { frozenBaseValues, type FrozenValue } from './quantized-base'
import { buildSortedEvaluationGraph, buildSortedTrainGraph, trainedTensors, type TrainedAdapter, type TrainedTensor } from './sorted-graph'

export type TrainMode = 'soft' | 'sortednet' | 'sft'

export interface TrainingBatch {
  /** [batchSize · seqLen] row-major token ids and labels (−100 = not counted). */
  inputIds: BigInt64Array
  labels: BigInt64Array
}

/** Where batches come from: micro-batch `index` of epoch `epoch` (shuffled per epoch by the source). */
export interface BatchSource {
  readonly batchesPerEpoch: number
  batch(epoch: number, index: number): TrainingBatch
}

export interface TrainOptions {
  mode: TrainMode
  /** Configured exits, ascending, ending with numLayers (see exits.ts). */
  exits: number[]
  batchSize: number
  seqLen: number
  gradAccum: number
  totalSteps: number
  lr: number
  weightDecay: number
  warmupSteps: number
  schedule: ScheduleKind
  /** 0 disables clipping. */
  maxGradNorm: number
  seed: number
  /** Validation every N steps (0: only at the end). */
  evalEvery: number
  /** Checkpoint every N steps (0: only at the end and on cancel). */
  checkpointEvery: number
  /** Train a LoRA / DyLoRA adapter on the frozen base; absent: every weight trains. */
  adapter?: TrainedAdapter | undefined
  /** Activation recomputation: each layer's backward recomputes its forward (sorted-graph.ts); resolved from `auto` by run-plan.ts. */
  recompute?: boolean | undefined
}

export interface StepRecord {
  step: number
  lr: number
  /** Loss per exit trained at this step (key: exit). */
  loss: Record<string, number>
  gradNorm: number
  tokens: number
  tokensPerSecond: number
}

export interface ValidationRecord {
  step: number
  /** Mean token loss and perplexity per exit on the validation set. */
  loss: Record<string, number>
  perplexity: Record<string, number>
  /** DyLoRA: mean token loss per rank (key) and exit (inner key); `loss` is the full rank's. */
  lossByRank?: Record<string, Record<string, number>>
}

export interface RunState {
  history: StepRecord[]
  validation: ValidationRecord[]
}

export interface TrainProgress {
  step: number
  totalSteps: number
  record: StepRecord
  etaSeconds: number
}

export interface TrainerHooks {
  provider?: ExecutionProviderPreference
  intraOpThreads?: number
  /**
   * ONNX Runtime's CPU memory arena for the training graphs (default off).
   * It reuses freed blocks instead of asking the system for fresh pages for
   * every large tensor (the gradients graph measured up to 15 % faster), but
   * keeps its largest footprint: full SoFT on the d1024 shape peaked at
   * 9 955 MiB with it against 7 941 without.
   */
  memoryArena?: boolean
  log?: (message: string) => void
  onStep?: (progress: TrainProgress) => void
  onValidation?: (record: ValidationRecord) => void
  onCheckpoint?: (step: number, path: string) => void
  /**
   * A checkpoint was restored, with the history of the steps it holds: a
   * caller that stores metrics as they come may have lost the last of them
   * with its process (a checkpoint can reach the disk before its steps'
   * reports reach a store), so they are handed over once more.
   */
  onRestored?: (state: RunState, totalSteps: number) => void
}

export interface TrainResult {
  finished: boolean
  step: number
  state: RunState
  weights: ModelWeights
  /** The trained adapter's A and B by name (model/lora.ts), when an adapter was trained. */
  adapter: Map<string, Float32Array> | undefined
}

interface Graphs {
  /** Forward + backward of one set of exits (keyed by subsetKey): a micro-batch's losses and gradients. */
  gradients: Map<string, ort.InferenceSession>
  /** Forward only: validation losses. */
  evaluate: ort.InferenceSession
}

/** The key of a set of exits trained together by one gradients graph. */
const subsetKey = (exits: readonly number[]): string => exits.join(',')

function allFinite(values: Float32Array): boolean {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) return false
  return true
}

/** Targets a batch's mean loss divides by: labels ≠ −100 at positions ≥ 1 (the shift). */
export function countedTargets(labels: BigInt64Array, batchSize: number, seqLen: number): number {
  let n = 0
  for (let b = 0; b < batchSize; b++) for (let t = 1; t < seqLen; t++) if (labels[b * seqLen + t] !== -100n) n++
  return n
}

/**
 * sum + scale·g, in place. The first contribution becomes the sum itself, scaled in place
 * (0 + scale·g rounds to the same float32 as scale·g; `g` is this run's own copy of ONNX
 * Runtime's output), so a step of one micro-batch and one sub-model adds nothing to zeros,
 * and no step holds a gradient twice.
 */
function accumulate(sum: Float32Array | undefined, g: Float32Array, scale: number): Float32Array {
  if (!sum) {
    if (scale !== 1) for (let i = 0; i < g.length; i++) g[i]! *= scale
    return g
  }
  for (let i = 0; i < g.length; i++) sum[i]! += scale * g[i]!
  return sum
}

/** Validation ranks of a DyLoRA adapter of rank R: the powers of two below R, and R. */
export function evaluatedRanks(rank: number): number[] {
  const ranks: number[] = []
  for (let b = 1; b < rank; b *= 2) ranks.push(b)
  return [...ranks, rank]
}

export class Trainer {
  /** The tensors the optimizer updates, in graph order. */
  private readonly slots: TrainedTensor[]
  /** Base weights an adapter run reads but never updates (shared with the caller's ModelWeights, not copied; QLoRA: 4-bit codes and scales). */
  private readonly frozen: Map<string, FrozenValue>
  /** The weights the run started from (a QLoRA run's 4-bit Linears are taken from here for `weights()`). */
  private readonly base: ModelWeights
  private params = new Map<string, Float32Array>()
  private m = new Map<string, Float32Array>()
  private v = new Map<string, Float32Array>()
  private step = 0
  private state: RunState = { history: [], validation: [] }
  private graphs: Graphs | undefined
  private provider: ProviderId = 'cpu'
  /** The newest checkpoint written or resumed from: where a diverged run can go back to. */
  private lastCheckpoint: { step: number; path: string } | undefined

  /**
   * `weights` are trained in place, not copied (a copy would hold every weight twice for the whole
   * run, 4 bytes a parameter): every one in full fine-tuning, the final norm of an adapter run with
   * trainNorm. A caller that needs the starting weights afterwards passes a copy.
   */
  constructor(
    readonly config: ModelConfig,
    weights: ModelWeights,
    readonly options: TrainOptions,
    private readonly train: BatchSource,
    private readonly validation: BatchSource | undefined,
    private readonly checkpointDir: string,
    private readonly hooks: TrainerHooks = {},
  ) {
    this.base = weights
    if (options.exits.at(-1) !== config.numLayers) throw new Error(`the exits must end with the full model (${config.numLayers})`)
    const adapter = options.adapter
    this.slots = trainedTensors(config, adapter)
    const fresh = adapter ? initialAdapter(config, adapter, options.seed) : new Map<string, Float32Array>()
    const base = new Map<string, Float32Array>()
    for (const slot of weightSlots(config)) {
      const data = weightOf(weights, slot)
      if (!data) throw new Error(`the model has no ${slot.name}`)
      base.set(slot.name, data)
    }
    const taken = new Set<Float32Array>()
    for (const slot of this.slots) {
      let start = fresh.get(slot.name) ?? base.get(slot.name)!
      // Two fields sharing one array would be updated twice a step: the second gets its own.
      if (taken.has(start)) start = Float32Array.from(start)
      taken.add(start)
      this.params.set(slot.name, start)
      this.m.set(slot.name, new Float32Array(start.length))
      this.v.set(slot.name, new Float32Array(start.length))
    }
    this.frozen = adapter ? frozenBaseValues(config, weights, adapter) : new Map()
  }

  /** Continues from the newest checkpoint in the checkpoint folder, if any; returns its step. */
  resume(): number {
    const restored = this.restoreLatestCheckpoint()
    // The checkpoint's weights, copied into the model's, are garbage now (nothing refers to the checkpoint once
    // the call above returns): free them before the first step needs the memory.
    if (restored) collectGarbage()
    return this.step
  }

  /** Reads the newest checkpoint into the trainer; false when there is none. */
  private restoreLatestCheckpoint(): boolean {
    const checkpoint = readLatestCheckpoint<RunState>(this.checkpointDir, this.hooks.log ? { warn: this.hooks.log } : {})
    if (!checkpoint) return false
    for (const slot of this.slots) {
      const saved = checkpoint.params.get(slot.name)
      if (!saved || saved.data.length !== this.params.get(slot.name)!.length) {
        throw new CheckpointError(`the checkpoint ${checkpoint.path} does not fit this model (${slot.name}): was it made for another one?`)
      }
      // Into the arrays the run started from: a caller holding the model holds no stale copy.
      this.params.get(slot.name)!.set(saved.data)
      this.m.set(slot.name, checkpoint.m.get(slot.name)!)
      this.v.set(slot.name, checkpoint.v.get(slot.name)!)
    }
    this.step = checkpoint.step
    this.lastCheckpoint = { step: checkpoint.step, path: checkpoint.path }
    // History after the checkpoint will be recomputed, identically: keep nothing past it.
    this.state = {
      history: checkpoint.state.history.filter((r) => r.step <= this.step),
      validation: checkpoint.state.validation.filter((r) => r.step <= this.step),
    }
    this.hooks.onRestored?.(this.state, this.options.totalSteps)
    return true
  }

  private trainedExits(): number[] {
    return this.options.mode === 'sft' ? [this.config.numLayers] : this.options.exits
  }

  private async compile(): Promise<Graphs> {
    const threads = this.hooks.intraOpThreads ?? availableParallelism()
    const sessionOptions = {
      provider: this.hooks.provider ?? 'cpu',
      intraOpThreads: threads,
      memoryArena: this.hooks.memoryArena ?? false,
      ...(this.hooks.log ? { log: this.hooks.log } : {}),
    }
    const load = async (graph: Graph) => {
      const loaded = await loadSession(toModelProto(graph), sessionOptions)
      this.provider = loaded.provider
      return loaded.session
    }
    const { batchSize, seqLen } = this.options
    const adapter = this.options.adapter
    if (adapter?.quantizedBase) {
      const { provider } = await settleProvider(sessionOptions)
      if (!(await contribOpSupported(matmulNBitsProbe, provider))) {
        throw new TrainingError(`QLoRA runs its 4-bit base with ONNX Runtime's MatMulNBits, which the ${provider} provider does not offer here: train on the CPU provider, or use a LoRA adapter on the fp32 base.`)
      }
    }
    const evaluate = await load(buildSortedEvaluationGraph({ config: this.config, exits: this.trainedExits(), batchSize, seqLen, adapter }))
    const gradients = new Map<string, ort.InferenceSession>()
    const subsets = this.options.mode === 'sortednet' ? this.options.exits.map((e) => [e]) : [this.trainedExits()]
    for (const exits of subsets) {
      gradients.set(subsetKey(exits), await load(buildSortedTrainGraph({ config: this.config, exits, batchSize, seqLen, mode: 'gradients', adapter, recompute: this.options.recompute }).graph))
    }
    // The graphs as built and serialized (and whatever loading the model left) are garbage now: free it before the first step's peak.
    collectGarbage()
    return { gradients, evaluate }
  }

  /**
   * The trained parameters, the frozen base and (with an adapter) its per-rank scale at `rank`:
   * alpha/rank on the first `rank` ranks, 0 on the rest (see model/layers.ts LoraLinear).
   */
  private paramFeeds(rank = this.options.adapter?.rank): Record<string, ort.Tensor> {
    const feeds: Record<string, ort.Tensor> = Object.fromEntries(this.slots.map((s) => [names.param(s.name), tensor('float32', this.params.get(s.name)!, s.shape)]))
    for (const [name, { dtype, shape, data }] of this.frozen) feeds[name] = tensor(dtype, data, shape)
    const adapter = this.options.adapter
    if (adapter && rank !== undefined) {
      const scale = new Float32Array(adapter.rank)
      scale.fill(loraScale(adapter.alpha, rank), 0, rank)
      feeds[names.loraScale] = tensor('float32', scale, [adapter.rank])
    }
    return feeds
  }

  private batchFeeds(batch: TrainingBatch): Record<string, ort.Tensor> {
    const dims = [this.options.batchSize, this.options.seqLen]
    return { [names.inputIds]: tensor('int64', batch.inputIds, dims), [names.labels]: tensor('int64', batch.labels, dims) }
  }

  /**
   * Runs one gradients graph and adds its gradients, times `scale`, into `gradient`; returns
   * each exit's mean loss. Its own function so that nothing refers to the run's outputs once
   * it returns (a collection can then free them).
   */
  private async addGradients(
    session: ort.InferenceSession,
    exits: readonly number[],
    feeds: Record<string, ort.Tensor>,
    scale: number,
    gradient: Map<string, Float32Array>,
  ): Promise<Map<number, number>> {
    const out = await session.run(feeds)
    for (const s of this.slots) gradient.set(s.name, accumulate(gradient.get(s.name), out[names.grad(s.name)]!.data as Float32Array, scale))
    return new Map(exits.map((e) => [e, Number(out[names.exitLoss(e)]!.data[0])]))
  }

  /** AdamW (step t, from 1) on the summed gradient, in place; the global gradient norm before clipping. */
  private update(gradient: ReadonlyMap<string, Float32Array>, lr: number, t: number): number {
    const tensors = this.slots.map((s) => ({ param: this.params.get(s.name)!, m: this.m.get(s.name)!, v: this.v.get(s.name)!, grad: gradient.get(s.name)!, noDecay: s.noDecay }))
    return adamwStep(tensors, { weightDecay: this.options.weightDecay, maxGradNorm: this.options.maxGradNorm }, lr, t)
  }

  private microBatch(k: number): TrainingBatch {
    const epoch = Math.floor(k / this.train.batchesPerEpoch)
    return this.train.batch(epoch, k % this.train.batchesPerEpoch)
  }

  /** A step's random draws, from (seed, step) alone: the first picks SortedNet's exit, the second DyLoRA's rank. */
  private stepDraws(step: number): { exit: number; rank: number } {
    const draw = mulberry32(this.options.seed * 1_000_003 + step)
    return { exit: draw(), rank: draw() }
  }

  /** The sub-models a step trains: all configured (soft), the last (sft), or the last plus one drawn (sortednet). */
  exitsForStep(step: number): number[][] {
    if (this.options.mode !== 'sortednet') return [this.trainedExits()]
    const L = this.config.numLayers
    const others = this.options.exits.filter((e) => e !== L)
    if (others.length === 0) return [[L]]
    return [[others[Math.floor(this.stepDraws(step).exit * others.length)]!], [L]]
  }

  /** The adapter rank a step trains: R for LoRA, b uniform in [1, R] for DyLoRA; undefined without an adapter. */
  rankForStep(step: number): number | undefined {
    const adapter = this.options.adapter
    if (!adapter) return undefined
    if (adapter.kind === 'lora') return adapter.rank
    return 1 + Math.floor(this.stepDraws(step).rank * adapter.rank)
  }

  /**
   * One optimizer step. Its objective is the mean over the step's sub-models of each one's
   * mean token loss over all the step's micro-batches. A micro-batch's gradient is of its own
   * mean loss, so it is scaled once, by its share of the counted targets (known from the
   * labels before running) over the number of sub-models, and added into one running sum:
   * Σ_s Σ_k (n_k/N)/S · ∇mean_{s,k}. AdamW then applies the sum, once.
   */
  private async runStep(graphs: Graphs): Promise<StepRecord> {
    const stepIndex = this.step
    const lr = learningRate(stepIndex, this.options.lr, this.options.warmupSteps, this.options.totalSteps, this.options.schedule)
    const started = performance.now()
    const subsets = this.exitsForStep(stepIndex)
    const rank = this.rankForStep(stepIndex)
    const micro = Array.from({ length: this.options.gradAccum }, (_, a) => this.microBatch(stepIndex * this.options.gradAccum + a))
    const counts = micro.map((b) => countedTargets(b.labels, this.options.batchSize, this.options.seqLen))
    const counted = counts.reduce((a, b) => a + b, 0)
    const gradient = new Map<string, Float32Array>()
    const loss: Record<string, number> = {}
    for (const exits of subsets) {
      const session = graphs.gradients.get(subsetKey(exits))!
      const lossSums = new Map<number, number>(exits.map((e) => [e, 0]))
      for (const [a, batch] of micro.entries()) {
        const first = gradient.size === 0
        const scale = counted ? counts[a]! / counted / subsets.length : 0
        const exitLoss = await this.addGradients(session, exits, { ...this.batchFeeds(batch), ...this.paramFeeds(rank) }, scale, gradient)
        for (const e of exits) lossSums.set(e, lossSums.get(e)! + exitLoss.get(e)! * counts[a]!)
        // A later contribution's arrays are garbage once added: free them before the next run allocates its own.
        if (!first) collectGarbage()
      }
      for (const e of exits) loss[e] = counted ? lossSums.get(e)! / counted : 0
    }
    const gradNorm = this.update(gradient, lr, stepIndex + 1)
    // The gradients are garbage now; without this they stay resident through the next step's backward.
    gradient.clear()
    collectGarbage()
    const seconds = (performance.now() - started) / 1000
    const processed = this.options.batchSize * this.options.seqLen * this.options.gradAccum
    this.step += 1
    return { step: this.step, lr, loss, gradNorm, tokens: counted, tokensPerSecond: processed / seconds }
  }

  /**
   * Mean token loss per exit over the whole validation set (counted targets weighted equally);
   * for a DyLoRA adapter, also at each of evaluatedRanks (exits × ranks).
   */
  async evaluate(source: BatchSource | undefined = this.validation): Promise<ValidationRecord | undefined> {
    if (!source || source.batchesPerEpoch === 0) return undefined
    const adapter = this.options.adapter
    const record = await this.evaluateAtRank(source, adapter?.rank)
    if (adapter?.kind !== 'dylora') return record
    const lossByRank: Record<string, Record<string, number>> = {}
    for (const rank of evaluatedRanks(adapter.rank)) {
      lossByRank[rank] = rank === adapter.rank ? record.loss : (await this.evaluateAtRank(source, rank)).loss
    }
    return { ...record, lossByRank }
  }

  private async evaluateAtRank(source: BatchSource, rank: number | undefined): Promise<ValidationRecord> {
    this.graphs ??= await this.compile()
    const sums = new Map<number, number>()
    let counted = 0
    for (let i = 0; i < source.batchesPerEpoch; i++) {
      const out = await this.graphs.evaluate.run({ ...this.batchFeeds(source.batch(0, i)), ...this.paramFeeds(rank) })
      const n = Number(out[names.tokens]!.data[0])
      counted += n
      for (const e of this.trainedExits()) sums.set(e, (sums.get(e) ?? 0) + Number(out[names.exitLoss(e)]!.data[0]) * n)
    }
    const loss: Record<string, number> = {}
    const perplexity: Record<string, number> = {}
    for (const [e, s] of sums) {
      loss[e] = counted ? s / counted : 0
      perplexity[e] = Math.exp(loss[e]!)
    }
    return { step: this.step, loss, perplexity }
  }

  private checkpoint(): void {
    // A checkpoint of parameters that overflowed would only diverge again when resumed: the last good one stays the newest.
    const broken = this.slots.find((s) => !allFinite(this.params.get(s.name)!))
    if (broken) throw this.diverged(this.step, `the parameter ${broken.name} is no longer a finite number`)
    const params = new Map(this.slots.map((s) => [s.name, { shape: s.shape, data: this.params.get(s.name)! }]))
    const path = writeCheckpoint(this.checkpointDir, { step: this.step, params, m: this.m, v: this.v, state: this.state })
    this.lastCheckpoint = { step: this.step, path }
    this.hooks.onCheckpoint?.(this.step, path)
  }

  /** The error that stops a run whose numbers stopped being finite, saying what is kept and what to change. */
  private diverged(step: number, what: string): DivergedError {
    const kept = this.lastCheckpoint
      ? `the last good checkpoint, step ${this.lastCheckpoint.step}, is kept in ${this.lastCheckpoint.path}`
      : 'no checkpoint had been written yet'
    return new DivergedError(`training diverged at step ${step}: ${what} (learning rate ${this.options.lr}); ${kept}. Lower the learning rate (or enable gradient clipping) and start again.`)
  }

  /** Why a step's record shows divergence: a non-finite loss (the first exit) or gradient norm; undefined when it is fine. */
  private divergence(record: StepRecord): string | undefined {
    const exit = Object.entries(record.loss).find(([, loss]) => !Number.isFinite(loss))
    if (exit) return `the loss of exit ${exit[0]} is ${exit[1]} (gradient norm ${record.gradNorm})`
    if (!Number.isFinite(record.gradNorm)) return `the gradient norm is ${record.gradNorm}`
    return undefined
  }

  /** Trains until totalSteps or until `signal` aborts (then checkpoints and returns unfinished). */
  async run(signal?: AbortSignal): Promise<TrainResult> {
    this.graphs ??= await this.compile()
    const { totalSteps, evalEvery, checkpointEvery } = this.options
    const started = performance.now()
    const firstStep = this.step
    while (this.step < totalSteps) {
      if (signal?.aborted) {
        this.checkpoint()
        return { finished: false, step: this.step, state: this.state, weights: this.weights(), adapter: this.adapter() }
      }
      const record = await this.runStep(this.graphs)
      // Stop at once: every later step would be NaN too, and the export would fail hours later.
      const divergence = this.divergence(record)
      if (divergence) throw this.diverged(record.step, divergence)
      this.state.history.push(record)
      const perStep = (performance.now() - started) / 1000 / (this.step - firstStep)
      this.hooks.onStep?.({ step: this.step, totalSteps, record, etaSeconds: perStep * (totalSteps - this.step) })
      if (evalEvery > 0 && this.step % evalEvery === 0 && this.step < totalSteps) {
        const validation = await this.evaluate()
        if (validation) {
          this.state.validation.push(validation)
          this.hooks.onValidation?.(validation)
        }
      }
      if (checkpointEvery > 0 && this.step % checkpointEvery === 0 && this.step < totalSteps) this.checkpoint()
    }
    const final = await this.evaluate()
    if (final && this.state.validation.at(-1)?.step !== this.step) {
      this.state.validation.push(final)
      this.hooks.onValidation?.(final)
    }
    this.checkpoint()
    return { finished: true, step: this.step, state: this.state, weights: this.weights(), adapter: this.adapter() }
  }

  /** The adapter's current A and B by name (the trainer's own arrays, which a later step changes); undefined without an adapter. */
  adapter(): Map<string, Float32Array> | undefined {
    const adapter = this.options.adapter
    if (!adapter) return undefined
    return new Map(loraSlots(this.config, adapter).map((s) => [s.name, this.params.get(s.name)!]))
  }

  /**
   * The current model weights (for export): the trained parameters (the trainer's own arrays, which a later step
   * changes), and the frozen base where an adapter run has one
   * (unmerged; a QLoRA base's Linears as the 4-bit weights it trained on, their fp32 fields empty).
   */
  weights(): ModelWeights {
    const layers = this.base.layers.map((layer) => (layer.prequantized ? { prequantized: layer.prequantized } : {}) as Record<string, unknown>)
    const weights: Record<string, unknown> = { layers }
    for (const slot of weightSlots(this.config)) {
      const quantized = this.options.adapter?.quantizedBase && slot.role === 'linear'
      const data = this.params.get(slot.name) ?? (quantized ? new Float32Array(0) : (this.frozen.get(slot.name)?.data as Float32Array | undefined))
      if (!data) throw new Error(`no value for ${slot.name}`)
      if (slot.layer === undefined) weights[slot.field] = data
      else layers[slot.layer]![slot.field] = data
    }
    weights.lmHead ??= undefined
    return weights as unknown as ModelWeights
  }

  get executionProvider(): ProviderId {
    return this.provider
  }

  async release(): Promise<void> {
    const g = this.graphs
    this.graphs = undefined
    if (!g) return
    await Promise.all([g.evaluate.release(), ...[...g.gradients.values()].map((s) => s.release())])
  }
}
