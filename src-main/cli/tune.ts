import { parseArgs } from 'node:util'
import { ExecutionProviderPreference, tuningDefaults, type WeightPrecision, type WeightsRequest } from '../api/contract'
import { inferenceLoss, NoScoredTokensError } from '../engine/generate/inference-loss'
import { ModelSession } from '../engine/generate/model-session'
import { PrequantizedPrecisionError } from '../engine/generate/runtime'
import { formatProblem, loadDataset, type ErrorPolicy } from '../engine/data'
import { inspectModelFolder, loadModelFolder } from '../engine/model/import'
import { chatFormatterFor, type ChatFormatter } from '../engine/tokenizer/chat-template'
import { loadTokenizer, type TextTokenizer } from '../engine/tokenizer/tokenizer'
import { validationSource } from '../engine/train/data-source'
import { runTuneJob, type TuneRequest } from '../engine/train/tune-job'
import { planTune } from '../engine/train/tune-plan'
import { loraDefaults } from '../engine/model/lora'
import type { AdapterMethod } from '../engine/train/adapter-settings'
import { RECOMPUTE_SETTINGS, type RecomputeSetting } from '../engine/train/memory-budget'
import { adapterOptions, adapterUsage, withAdapter } from './adapter'
import { parseExits } from '../engine/train/exits'
import { checkSeqLen } from '../engine/train/sequence-length'
import { Trainer, type TrainOptions } from '../engine/train/trainer'
import { UsageError, type Command } from './commands'
import { asUsageError, flagError, flagOf } from './flags'
import { numberOption, positiveInt } from './options'
import { seqLenFor, trainingFlagOptions, trainingRequestFrom } from './tune-flags'
import { parseWeights, weightsOpenError } from './weights-flags'

/** Model, tokenizer, template and dataset, as both `tune` and `eval-loss` read them. */
function loadInputs(modelDir: string, dataFile: string, seqLen: number, onError: ErrorPolicy) {
  const model = loadModelFolder(modelDir)
  const tokenizer = loadTokenizer(modelDir)
  const formatter = chatFormatterFor(modelDir, tokenizer)
  return { model, dataset: readDataset(dataFile, seqLen, onError, model.config.vocabSize, tokenizer, formatter) }
}

/** The dataset tokenized for a model, its warnings and skipped records said on stderr. */
function readDataset(dataFile: string, seqLen: number, onError: ErrorPolicy, vocabSize: number, tokenizer: TextTokenizer | undefined, formatter: ChatFormatter | undefined) {
  const dataset = loadDataset(dataFile, {
    seqLen,
    onError,
    vocabSize,
    ...(tokenizer ? { tokenizer } : {}),
    ...(formatter ? { formatter } : {}),
  })
  for (const warning of dataset.warnings) process.stderr.write(`warning: ${warning}\n`)
  for (const skipped of dataset.skipped) for (const problem of skipped.problems) process.stderr.write(`skipped ${formatProblem(problem)}\n`)
  return dataset
}

export const tuneCommand: Command = {
  name: 'tune',
  summary: 'Fine-tune a model with SoFT, SortedNet or plain SFT; resumable after a crash.',
  usage: `sorted tune --model DIR --data FILE --mode soft|sortednet|sft --out DIR [options]

  --exits SPEC            all | 2,4,6 | every:N:from:M (default ${tuningDefaults.exits}; the full model is always one)
  --epochs E | --max-steps S   how long to train (default 1 epoch)
  --batch-size B          rows per micro-batch (default ${tuningDefaults.batchSize})
  --grad-accum G          micro-batches per optimizer step (default ${tuningDefaults.gradAccum})
  --lr LR                 peak learning rate (default ${tuningDefaults.lr.toExponential()})
  --weight-decay WD       AdamW decoupled weight decay (default ${tuningDefaults.weightDecay}, as torch.optim.AdamW)
  --warmup W              linear warmup steps (default ${tuningDefaults.warmup})
  --schedule cosine|constant   after warmup (default ${tuningDefaults.schedule})
  --max-grad-norm C       clip the global gradient norm (default ${tuningDefaults.maxGradNorm}; 0 disables)
  --seq-len T             longest sequence; longer records are cut (default ${tuningDefaults.seqLen}, or the
                          model's context when shorter; at most the model's context)
  --seed S                data order, split and SortedNet sampling (default ${tuningDefaults.seed})
  --no-shuffle            keep file order: batch s = records s·B … s·B+B−1, wrapping
  --val-split F           fraction held out for validation (default ${tuningDefaults.valSplit})
  --on-error stop|skip    malformed records stop the run or are skipped (default ${tuningDefaults.onError})
  --checkpoint-every N    steps between checkpoints (default ${tuningDefaults.checkpointEvery}; also on the end)
  --eval-every N          steps between validations (default ${tuningDefaults.evalEvery}: at the end only)
  --resume                continue from DIR.checkpoints after an interruption; refused when
                          a training setting differs from the checkpoints'
  --force                 with --resume: go on with the changed settings anyway
                          (recorded in DIR.checkpoints/run.json)
  --provider ID           auto | cpu | cuda | dml | webgpu (default cpu)
  --recompute auto|on|off recompute each layer's activations in the backward instead of
                          keeping them (about a third more arithmetic a step, a fraction
                          of the memory); auto (default): on when the step would not fit
                          in this machine's memory without it
  --json                  print one final object: history, val, out
  --dry-run               print the plan (predicted peak memory, step time, trainable
                          parameters; what fits when it does not) and exit, reading only
                          the model's config and touching nothing; with --json as one object

Adapters (the base stays frozen; only the adapter, and the final norm with --train-norm, train):
  --adapter lora|dylora|qlora
                          train a LoRA adapter, or a DyLoRA one (each step trains rank b ≤ R,
                          drawn from --seed and the step), or QLoRA: LoRA on the base's decoder
                          linear layers held 4-bit (blockwise symmetric, as --weights int4)
  --block-size B          with qlora: 32 (default) | 64 | 128 values per quantization block
  --lora-rank R           r, or DyLoRA's largest rank (default ${loraDefaults.rank})
  --lora-alpha A          the adapter's product is scaled by A / rank (default ${loraDefaults.alpha})
  --lora-dropout P        only 0 is supported (default 0)
  --lora-targets LIST     decoder linear layers to adapt (default ${loraDefaults.targets})
  --train-norm            also train the exits' shared final norm

The tuned model is written to --out in Hugging Face layout with sorted.json
(with --adapter: a PEFT adapter folder, adapter_config.json + adapter_model.safetensors
+ sorted.json; \`sorted merge\` makes a full model of it); checkpoints live in
DIR.checkpoints beside it.`,
  async run(args) {
    const { values } = parseArgs({
      args,
      strict: true,
      options: {
        ...trainingFlagOptions,
        out: { type: 'string' },
        resume: { type: 'boolean', default: false },
        force: { type: 'boolean', default: false },
        provider: { type: 'string', default: 'cpu' },
        json: { type: 'boolean', default: false },
        'dry-run': { type: 'boolean', default: false },
        adapter: { type: 'string' },
        'lora-rank': { type: 'string' },
        'lora-alpha': { type: 'string' },
        'lora-dropout': { type: 'string' },
        'lora-targets': { type: 'string' },
        'train-norm': { type: 'boolean' },
        'block-size': { type: 'string' },
        recompute: { type: 'string' },
      },
    })
    const training = trainingRequestFrom(values)
    const mode = training.mode
    const provider = ExecutionProviderPreference.safeParse(values.provider)
    if (!provider.success) throw new UsageError(`--provider must be one of ${ExecutionProviderPreference.options.join(', ')}.`)
    if (values.force && !values.resume) throw new UsageError('--force only goes with --resume.')
    const say = (line: string) => process.stderr.write(`${line}\n`)
    if (values.adapter !== undefined && !['lora', 'dylora', 'qlora'].includes(values.adapter)) throw new UsageError(`--adapter must be lora, dylora or qlora (got "${values.adapter}").`)
    if (values.recompute !== undefined && !(RECOMPUTE_SETTINGS as readonly string[]).includes(values.recompute)) throw new UsageError(`--recompute must be auto, on or off (got "${values.recompute}").`)
    const request: TuneRequest = {
      ...training,
      ...(values.recompute !== undefined ? { recompute: values.recompute as RecomputeSetting } : {}),
      outDir: values.out!,
      provider: provider.data,
      ...(values.adapter !== undefined ? { adapter: values.adapter as AdapterMethod } : {}),
      ...(values['block-size'] !== undefined ? { blockSize: numberOption('block-size', values['block-size'], positiveInt, 'a positive whole number')! } : {}),
      ...(values['lora-rank'] !== undefined ? { loraRank: numberOption('lora-rank', values['lora-rank'], positiveInt, 'a positive whole number')! } : {}),
      ...(values['lora-alpha'] !== undefined ? { loraAlpha: numberOption('lora-alpha', values['lora-alpha'], (n) => n > 0, 'a number > 0')! } : {}),
      ...(values['lora-dropout'] !== undefined ? { loraDropout: numberOption('lora-dropout', values['lora-dropout'], (n) => n >= 0 && n < 1, 'in [0, 1)')! } : {}),
      ...(values['lora-targets'] !== undefined ? { loraTargets: values['lora-targets'] } : {}),
      ...(values['train-norm'] !== undefined ? { trainNorm: values['train-norm'] } : {}),
    }
    if (values['dry-run']) return printPlan(request, values.json)
    const controller = new AbortController()
    const stop = () => controller.abort()
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
    let outcome
    try {
      outcome = await runTuneJob(request, {
        resume: values.resume,
        force: values.force,
        forceHint: 'add --force to go on with the new ones',
        resumeHint: 'add --resume',
        who: 'sorted tune',
        name: flagOf,
        signal: controller.signal,
        onPrepared: (p) => {
          say(
            `${p.datasetFormat}: ${p.stats.records} records (${p.trainRecords} train, ${p.validationRecords} validation), ` +
              `${p.stats.truncated} truncated; ${mode} on exits ${p.options.exits.join(',')}, ${p.options.totalSteps} steps`,
          )
          if (values.resume) say(p.resumedFrom ? `resuming at step ${p.resumedFrom}` : 'no checkpoint to resume from: starting at step 0')
        },
        hooks: {
          log: say,
          onStep: ({ step, totalSteps, record, etaSeconds }) => {
            const losses = Object.entries(record.loss).map(([e, l]) => `${e}=${l.toFixed(4)}`).join(' ')
            say(`step ${step}/${totalSteps}  loss ${losses}  lr ${record.lr.toExponential(2)}  ${record.tokensPerSecond.toFixed(0)} tok/s  ETA ${etaSeconds.toFixed(0)} s`)
          },
          onValidation: (v) => say(`validation @${v.step}: ${Object.entries(v.loss).map(([e, l]) => `${e}=${l.toFixed(4)}`).join(' ')}`),
        },
      })
    } catch (error) {
      throw asUsageError(error)
    }
    if (!outcome.finished) {
      say(`stopped at step ${outcome.step}; run again with --resume to continue`)
      return 130
    }
    say(`wrote ${outcome.out}`)
    const final = outcome.state.validation.at(-1)
    if (values.json) {
      process.stdout.write(
        `${JSON.stringify({
          history: outcome.state.history.map((r) => ({ step: r.step, loss: r.loss })),
          val: final?.loss ?? {},
          perplexity: final?.perplexity ?? {},
          out: outcome.out,
        })}\n`,
      )
    }
    return 0
  },
}

/** --dry-run: the memory planner's figures for this request, then exit 0. */
function printPlan(request: TuneRequest, json: boolean): number {
  let plan
  try {
    plan = planTune(request, flagOf)
  } catch (error) {
    throw asUsageError(error)
  }
  if (json) {
    process.stdout.write(`${JSON.stringify(plan)}\n`)
    return 0
  }
  const b = plan.breakdown_mb
  process.stdout.write(
    `predicted peak ${plan.predicted_peak_mb} MiB of ${plan.available_mb} MiB (weights ${b.weights}, gradients and optimizer ${b.training_state}, ` +
      `activations ${b.activations}${plan.recompute ? ' with recomputation' : ''}, arena ${b.arena}, runtime ${b.runtime})\n` +
      `predicted step ${plan.predicted_step_s} s; ${plan.trainable_params} of ${plan.parameters} parameters train\n` +
      (plan.fits ? 'fits\n' : `does not fit: ${plan.proposal}\n`),
  )
  return 0
}

export const evalLossCommand: Command = {
  name: 'eval-loss',
  summary: 'Mean token loss of every exit of a model on a dataset, in fp32 or int8/int4 weights.',
  usage: `sorted eval-loss --model DIR --data FILE [--exits SPEC] [--seq-len T] [--batch-size B] [--weights P [--block-size B]] [--adapter DIR [--adapter-rank B]] [--json]

  --weights P       fp32 (default): the training graph's evaluation, batched (--batch-size B, default 4).
                    int8 | int4: the inference graphs generation runs, in those weights (one record
                    per pass). A GPTQ/AWQ folder runs int4 in its own packing.
  --block-size B    32 (default) | 64 | 128, with int8 or int4
${adapterUsage}

--seq-len defaults to ${tuningDefaults.seqLen}, or the model's context when shorter.

Loss per exit = Σ token cross-entropy over the dataset's response tokens ÷ their number.
--json prints {weights, graph: training|inference, loss, perplexity} (block_size and lm_head when quantized).`,
  async run(args) {
    const { values } = parseArgs({
      args,
      strict: true,
      options: {
        model: { type: 'string' },
        data: { type: 'string' },
        exits: { type: 'string', default: 'all' },
        'seq-len': { type: 'string' },
        'batch-size': { type: 'string', default: '4' },
        weights: { type: 'string' },
        'block-size': { type: 'string' },
        json: { type: 'boolean', default: false },
        ...adapterOptions,
      },
    })
    if (!values.model || !values.data) throw new UsageError('--model and --data are required.')
    const modelDir = values.model
    const seqLen = seqLenFor(values['seq-len'], modelDir)
    const batchSize = numberOption('batch-size', values['batch-size'], positiveInt, 'a positive whole number')!
    const weights = parseWeights(values.weights, values['block-size'])
    let header: ReturnType<typeof inspectModelFolder>
    try {
      header = inspectModelFolder(modelDir)
      checkSeqLen(header.config, seqLen, flagOf)
    } catch (error) {
      throw asUsageError(error)
    }
    if (header.prequantized && weights?.precision === 'fp32') throw weightsOpenError(new PrequantizedPrecisionError(header.prequantized.method, 'fp32'), '--weights', values.weights, modelDir)
    // The training graph holds fp32 weights only: any other precision (and a GPTQ/AWQ folder, int4 by default) runs the inference graphs.
    const report =
      (weights && weights.precision !== 'fp32') || (header.prequantized && !weights)
        ? await inferencePathLoss(modelDir, values.data, seqLen, values.exits, weights, values.weights, values.adapter, values['adapter-rank'])
        : await trainingGraphLoss(modelDir, values.data, seqLen, values.exits, batchSize, values.adapter, values['adapter-rank'])
    if (values.json) {
      process.stdout.write(`${JSON.stringify(report)}\n`)
    } else {
      process.stdout.write(`weights ${report.weights}${report.block_size ? ` (block ${report.block_size}, LM head ${report.lm_head})` : ''}, ${report.graph} graph${report.graph === 'inference' ? 's' : ''}\n`)
      for (const e of Object.keys(report.loss)) process.stdout.write(`exit ${e}: loss ${report.loss[e]!.toFixed(4)}  perplexity ${report.perplexity[e]!.toFixed(2)}\n`)
    }
    return 0
  },
}

/** What eval-loss reports: per-exit loss and perplexity, and the weights and graph that computed them. */
interface EvalLossReport {
  weights: WeightPrecision
  block_size?: number
  lm_head?: string
  weights_fallback_reason?: string
  graph: 'training' | 'inference'
  loss: Record<string, number>
  perplexity: Record<string, number>
}

function exitsOf(spec: string, numLayers: number): number[] {
  try {
    return parseExits(spec, numLayers)
  } catch (error) {
    throw flagError('exits', error)
  }
}

/** fp32: the training graph's evaluation (batched, padded to --seq-len), as validation during tuning computes it. */
async function trainingGraphLoss(modelDir: string, dataFile: string, seqLen: number, exitSpec: string, batchSize: number, adapter: string | undefined, adapterRank: string | undefined): Promise<EvalLossReport> {
  const { model, dataset } = loadInputs(modelDir, dataFile, seqLen, 'stop')
  const exits = exitsOf(exitSpec, model.config.numLayers)
  const options: TrainOptions = {
    mode: 'soft', exits, batchSize, seqLen, gradAccum: 1, totalSteps: 0, lr: 0, weightDecay: 0, warmupSteps: 0,
    schedule: 'constant', maxGradNorm: 0, seed: 0, evalEvery: 0, checkpointEvery: 0,
  }
  const source = validationSource(dataset.records, { batchSize, seqLen })!
  const weights = withAdapter(model.config, model.weights, adapter, adapterRank)
  const trainer = new Trainer(model.config, weights, options, source, source, '', {})
  try {
    const result = (await trainer.evaluate())!
    return { weights: 'fp32', graph: 'training', loss: result.loss, perplexity: result.perplexity }
  } finally {
    await trainer.release()
  }
}

/** int8/int4: the inference graphs in those weights (engine/generate/inference-loss.ts), loaded as generate loads them. */
async function inferencePathLoss(
  modelDir: string,
  dataFile: string,
  seqLen: number,
  exitSpec: string,
  weights: WeightsRequest | undefined,
  weightsFlag: string | undefined,
  adapter: string | undefined,
  adapterRank: string | undefined,
): Promise<EvalLossReport> {
  const exits = exitsOf(exitSpec, inspectModelFolder(modelDir).config.numLayers)
  const session = await ModelSession.open(
    modelDir,
    { ...(weights ? { weights } : {}), log: (m) => process.stderr.write(`${m}\n`) },
    adapter ? (config, base) => withAdapter(config, base, adapter, adapterRank) : undefined,
  ).catch((error: unknown) => {
    throw weightsOpenError(error, '--weights', weightsFlag, modelDir)
  })
  try {
    const dataset = readDataset(dataFile, seqLen, 'stop', session.config.vocabSize, session.tokenizer, session.formatter)
    const result = await inferenceLoss(session.runtime, dataset.records, exits, (done, total) => {
      if (done === total || done % 20 === 0) process.stderr.write(`records: ${done}/${total}\n`)
    }).catch((error: unknown) => {
      throw error instanceof NoScoredTokensError ? new UsageError(`--data ${dataFile}: ${error.message}.`) : error
    })
    const info = session.info.weights
    return {
      weights: info.precision,
      ...(info.blockSize ? { block_size: info.blockSize, lm_head: info.lmHead } : {}),
      ...(session.info.weightsFallbackReason ? { weights_fallback_reason: session.info.weightsFallbackReason } : {}),
      graph: 'inference',
      loss: result.loss,
      perplexity: result.perplexity,
    }
  } finally {
    await session.release()
  }
}
