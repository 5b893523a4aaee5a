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
import { DynamicDepthRuntime } from '../../src-main/engine/generate/runtime'
import { loadModelFolder } from '../../src-main/engine/model/import'
import { ropeTables } from '../../src-main/engine/model/rope'
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

/** Σ −log softmax(logits)[target] over one row of [n, V] logits. */
function crossEntropy(logits: Float32Array, row: number, target: number): number {
  const V = config.vocabSize
  let max = -Infinity
  for (let v = 0; v < V; v++) max = Math.max(max, logits[row * V + v]!)
  let sum = 0
  for (let v = 0; v < V; v++) sum += Math.exp(logits[row * V + v]! - max)
  return Math.log(sum) + max - logits[row * V + target]!
}

/** Mean response-token loss at each exit, through the inference graphs (one full pass per record, no cache). */
async function inferenceLoss(format: WeightFormat): Promise<Record<number, number>> {
  const runtime = await DynamicDepthRuntime.load(config, model.weights, { weights: format })
  const sums = new Map<number, number>()
  let counted = 0
  for (const { inputIds, labels } of records) {
    const n = inputIds.length
    const { cos, sin } = ropeTables(config, 0, n)
    let hidden = await runtime.embed(inputIds)
    const empty = runtime.emptyCache()
    for (let layer = 0; layer < Math.max(...exits); layer++) {
      hidden = (await runtime.layer(layer, hidden, empty, empty, cos, sin)).hidden
      if (!exits.includes(layer + 1)) continue
      const logits = await runtime.head(hidden)
      let sum = 0
      // Position t − 1 predicts token t; prompt tokens are labelled −100.
      for (let t = 1; t < n; t++) if (labels[t]! !== -100) sum += crossEntropy(logits, t - 1, labels[t]!)
      sums.set(layer + 1, (sums.get(layer + 1) ?? 0) + sum)
    }
    for (let t = 1; t < n; t++) if (labels[t]! !== -100) counted++
  }
  await runtime.release()
  return Object.fromEntries(exits.map((e) => [e, sums.get(e)! / counted]))
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
for (const [name, format] of Object.entries(variants)) losses[name] = await inferenceLoss(format)
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
