/**
 * What int8 and int4 weights cost in quality on the bundled SoFT model: the
 * held-out per-exit token loss (resources/eval/dictionary-heldout.jsonl,
 * responses only, as training's validation loss counts them) through the
 * inference graphs in every weight precision, also with an fp32 LM head to
 * show what the int8 head adds. The fp32 inference-path loss is checked
 * against the training graph's evaluation (what `sorted eval-loss` runs), so
 * the inference-path measurement itself is known to be right.
 *
 * Run: npm run bench -- heldout-loss   (one JSON line)
 */
import { join } from 'node:path'
import { loadDataset } from '../../src-main/engine/data'
import { inferenceLoss } from '../../src-main/engine/generate/inference-loss'
import { DynamicDepthRuntime } from '../../src-main/engine/generate/runtime'
import { loadModelFolder } from '../../src-main/engine/model/import'
import { weightFormat, type WeightFormat } from '../../src-main/engine/model/weight-format'
import { chatFormatterFor } from '../../src-main/engine/tokenizer/chat-template'
import { loadTokenizer } from '../../src-main/engine/tokenizer/tokenizer'
import { validationSource } from '../../src-main/engine/train/data-source'
import { Trainer, type TrainOptions } from '../../src-main/engine/train/trainer'

const root = join(import.meta.dirname, '..', '..')
const modelDir = join(root, 'resources', 'models', 'dictionary-soft')
const dataFile = join(root, 'resources', 'eval', 'dictionary-heldout.jsonl')
const exits = [4, 8]
const seqLen = 256

const model = loadModelFolder(modelDir)
const tokenizer = loadTokenizer(modelDir)
const formatter = chatFormatterFor(modelDir, tokenizer)
const { records } = loadDataset(dataFile, {
  seqLen,
  onError: 'stop',
  vocabSize: model.config.vocabSize,
  ...(tokenizer ? { tokenizer } : {}),
  ...(formatter ? { formatter } : {}),
})
const { config } = model

/** Mean response-token loss at each exit, through the inference graphs in `format` (engine/generate/inference-loss.ts). */
async function inferenceLossIn(format: WeightFormat): Promise<Record<number, number>> {
  const runtime = await DynamicDepthRuntime.load(config, model.weights, { weights: format })
  try {
    const { loss } = await inferenceLoss(runtime, records, exits)
    return Object.fromEntries(exits.map((e) => [e, loss[e]!]))
  } finally {
    await runtime.release()
  }
}

/** The same loss through the training graph's evaluation (`sorted eval-loss`). */
async function trainingGraphLoss(): Promise<Record<number, number>> {
  const options: TrainOptions = {
    mode: 'soft', exits: [...exits], batchSize: 4, seqLen, gradAccum: 1, totalSteps: 0, lr: 0, weightDecay: 0, warmupSteps: 0,
    schedule: 'constant', maxGradNorm: 0, seed: 0, evalEvery: 0, checkpointEvery: 0,
  }
  const source = validationSource(records, { batchSize: 4, seqLen })!
  const trainer = new Trainer(config, model.weights, options, source, source, '', {})
  const result = (await trainer.evaluate())!
  await trainer.release()
  return Object.fromEntries(exits.map((e) => [e, result.loss[e]!]))
}

const variants: Record<string, WeightFormat> = {
  fp32: weightFormat({ precision: 'fp32' }),
  int8: weightFormat({ precision: 'int8' }),
  int4: weightFormat({ precision: 'int4' }),
  int8_fp32_head: weightFormat({ precision: 'int8', lmHead: 'fp32' }),
  int4_fp32_head: weightFormat({ precision: 'int4', lmHead: 'fp32' }),
  int4_block128: weightFormat({ precision: 'int4', blockSize: 128 }),
}
const round = (x: number) => +x.toFixed(4)
const losses: Record<string, Record<number, number>> = {}
for (const [name, format] of Object.entries(variants)) losses[name] = await inferenceLossIn(format)
const training = await trainingGraphLoss()
console.log(
  JSON.stringify({
    bench: 'heldout-loss',
    model: 'dictionary-soft',
    records: records.length,
    loss: Object.fromEntries(Object.entries(losses).map(([name, l]) => [name, Object.fromEntries(exits.map((e) => [e, round(l[e]!)]))])),
    delta_vs_fp32: Object.fromEntries(
      Object.entries(losses)
        .filter(([name]) => name !== 'fp32')
        .map(([name, l]) => [name, Object.fromEntries(exits.map((e) => [e, round(l[e]! - losses.fp32![e]!)]))]),
    ),
    fp32_training_graph: Object.fromEntries(exits.map((e) => [e, round(training[e]!)])),
  }),
)
