/**
 * `npm run recipe:default-model`: builds the bundled dictionary assistant
 * from scratch, reproducibly, on a CPU — WordNet corpus and tasks, a
 * byte-level BPE tokenizer, a LLaMA-architecture base pretrained on the
 * corpus, then SoFT (an exit at every layer) and the SFT baseline tuned
 * from that same base with the same data and budget, evaluated per exit,
 * and shipped in fp16 to resources/models/. Resumable: rerun after an
 * interruption and finished stages are skipped, training resumes from its
 * checkpoints.
 *
 *   npm run recipe:default-model            the shipped configuration
 *   npm run recipe:default-model -- --smoke a minutes-long miniature (tests), shipped to the work folder only
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { loadDataset } from '../../src-main/engine/data'
import { writeCorpus } from '../../src-main/engine/data/wordnet/corpus'
import { ModelSession } from '../../src-main/engine/generate/model-session'
import { exactMatch, rougeL } from '../../src-main/engine/judge/rouge'
import { exportModel } from '../../src-main/engine/model/export'
import { loadModelFolder } from '../../src-main/engine/model/import'
import { initialWeights } from '../../src-main/engine/model/init'
import type { ModelConfig } from '../../src-main/engine/model/types'
import { CHATML_TEMPLATE, writeTokenizerFiles } from '../../src-main/engine/tokenizer/bpe/save'
import { trainByteLevelBpe } from '../../src-main/engine/tokenizer/bpe/train'
import { chatFormatterFor } from '../../src-main/engine/tokenizer/chat-template'
import { loadTokenizer } from '../../src-main/engine/tokenizer/tokenizer'
import { validationSource } from '../../src-main/engine/train/data-source'
import { parseExits } from '../../src-main/engine/train/exits'
import { Trainer } from '../../src-main/engine/train/trainer'
import { checkpointDirOf, runTuneJob, type TuneRequest } from '../../src-main/engine/train/tune-job'
import { runStages } from './stages'

const { values } = parseArgs({ options: { smoke: { type: 'boolean', default: false }, work: { type: 'string' } } })
const smoke = values.smoke
const root = resolve(new URL('../..', import.meta.url).pathname)
const work = resolve(values.work ?? join(root, '.recipe', smoke ? 'default-model-smoke' : 'default-model'))
const shipTo = smoke ? join(work, 'shipped') : join(root, 'resources', 'models')

const seed = 20261129
const recipe = smoke
  ? {
      corpus: { maxPerTask: 40, maxPretrainDocuments: 400 },
      vocabSize: 512,
      model: { layers: 2, hidden: 32, heads: 4, kvHeads: 2, intermediate: 64 },
      pretrain: { steps: 6, batch: 4, seqLen: 64, lr: 3e-3, warmup: 1 },
      tune: { steps: 4, batch: 4, seqLen: 64, lr: 1e-3, warmup: 1 },
      evaluate: { items: 4, maxNewTokens: 12, validationRecords: 64 },
    }
  : {
      corpus: { maxPerTask: 12000, maxPretrainDocuments: 120000 },
      vocabSize: 6144,
      model: { layers: 8, hidden: 256, heads: 8, kvHeads: 2, intermediate: 704 },
      // Sized for ≤ 120 min on 2 cores: pretraining ran at ~880 tokens/s here (≈ 39 min for
      // 1000 × 16 × 128 tokens); SoFT's eight LM heads (vocab 6144 × d 256 each) make its
      // steps ~2.5× SFT's.
      pretrain: { steps: 1000, batch: 16, seqLen: 128, lr: 1e-3, warmup: 100 },
      tune: { steps: 200, batch: 16, seqLen: 128, lr: 3e-4, warmup: 20 },
      evaluate: { items: 100, maxNewTokens: 40, validationRecords: 2048 },
    }
const specialTokens = ['<|begin_of_text|>', '<|end_of_text|>', '<|im_start|>', '<|im_end|>', '<|pad|>']
const say = (line: string) => process.stdout.write(`${line}\n`)
const dirs = {
  corpus: join(work, 'corpus'),
  tokenizer: join(work, 'tokenizer'),
  init: join(work, 'base-init'),
  base: join(work, 'base'),
  soft: join(work, 'soft'),
  sft: join(work, 'sft'),
}

function modelConfig(vocabSize: number): ModelConfig {
  const m = recipe.model
  const raw = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    vocab_size: vocabSize,
    hidden_size: m.hidden,
    intermediate_size: m.intermediate,
    num_hidden_layers: m.layers,
    num_attention_heads: m.heads,
    num_key_value_heads: m.kvHeads,
    head_dim: m.hidden / m.heads,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    max_position_embeddings: 1024,
    tie_word_embeddings: true,
    hidden_act: 'silu',
    bos_token_id: 0,
    eos_token_id: [1, 3],
  }
  return {
    architecture: 'llama', hfArchitecture: 'LlamaForCausalLM', vocabSize, hiddenSize: m.hidden, intermediateSize: m.intermediate,
    numLayers: m.layers, numHeads: m.heads, numKvHeads: m.kvHeads, headDim: m.hidden / m.heads, rmsNormEps: 1e-5, ropeTheta: 10000,
    ropeScaling: undefined, maxPositionEmbeddings: 1024, tieWordEmbeddings: true, attentionBias: false, qkNorm: false, bosTokenId: 0,
    eosTokenIds: [1, 3], raw,
  }
}

/** Pretraining as language modelling on every token: documents joined by EOS, cut into seqLen windows. */
function writePretrainRecords(file: string): void {
  const tokenizer = loadTokenizer(dirs.tokenizer)!
  const eos = tokenizer.tokenToId('<|end_of_text|>')!
  const stream: number[] = []
  for (const line of readFileSync(join(dirs.corpus, 'pretrain.txt'), 'utf8').split('\n')) {
    if (line.trim()) stream.push(...tokenizer.encode(line, { addSpecialTokens: false }), eos)
  }
  const T = recipe.pretrain.seqLen
  const lines: string[] = []
  for (let at = 0; at + T <= stream.length; at += T) {
    const window = stream.slice(at, at + T)
    lines.push(JSON.stringify({ input_ids: window, labels: window }))
  }
  writeFileSync(file, `${lines.join('\n')}\n`)
}

function tuneRequest(modelPath: string, dataPath: string, outDir: string, mode: TuneRequest['mode'], settings: typeof recipe.tune): TuneRequest {
  return {
    modelPath, dataPath, outDir, mode, exits: 'all', maxSteps: settings.steps, batchSize: settings.batch, gradAccum: 1, lr: settings.lr,
    weightDecay: 0.01, warmup: settings.warmup, schedule: 'cosine', maxGradNorm: 1, seqLen: settings.seqLen, seed, shuffle: true,
    valSplit: 0.02, onError: 'stop', checkpointEvery: smoke ? 2 : 100, evalEvery: 0, provider: 'cpu',
  }
}

async function train(request: TuneRequest): Promise<void> {
  // The stage reruns only when unfinished: resume if it left checkpoints.
  rmSync(request.outDir, { recursive: true, force: true })
  const resume = existsSync(checkpointDirOf(request.outDir))
  const outcome = await runTuneJob(request, {
    resume,
    hooks: {
      log: say,
      onStep: ({ step, totalSteps, record, etaSeconds }) => {
        if (step % (smoke ? 1 : 25) !== 0 && step !== totalSteps) return
        const loss = Object.entries(record.loss).map(([e, l]) => `${e}:${l.toFixed(3)}`).join(' ')
        say(`  ${request.mode} step ${step}/${totalSteps}  ${loss}  ${record.tokensPerSecond.toFixed(0)} tok/s  ETA ${(etaSeconds / 60).toFixed(1)} min`)
      },
    },
  })
  if (!outcome.finished) throw new Error(`${request.mode} training stopped early`)
  rmSync(checkpointDirOf(request.outDir), { recursive: true, force: true })
}

interface ExitResult {
  val_loss: number
  perplexity: number
  exact_match: number
  rouge_l: number
  decode_tokens_per_s: number
}

async function evaluate(modelDir: string): Promise<{ perExit: Record<string, ExitResult>; samples: { exit: number; instruction: string; answer: string }[] }> {
  const model = loadModelFolder(modelDir)
  const L = model.config.numLayers
  const exits = parseExits('all', L)
  const tokenizer = loadTokenizer(modelDir)!
  const formatter = chatFormatterFor(modelDir, tokenizer)
  const seqLen = recipe.tune.seqLen
  const validation = loadDataset(join(dirs.corpus, 'validation.jsonl'), { seqLen, tokenizer, ...(formatter ? { formatter } : {}) })
  const options = {
    mode: 'soft' as const, exits, batchSize: recipe.tune.batch, seqLen, gradAccum: 1, totalSteps: 0, lr: 0, weightDecay: 0, warmupSteps: 0,
    schedule: 'constant' as const, maxGradNorm: 0, seed, evalEvery: 0, checkpointEvery: 0,
  }
  // A spread sample of the held-out records: all 30k would take longer than the training.
  const every = Math.max(1, Math.floor(validation.records.length / recipe.evaluate.validationRecords))
  const sample = validation.records.filter((_, i) => i % every === 0).slice(0, recipe.evaluate.validationRecords)
  const source = validationSource(sample, { batchSize: recipe.tune.batch, seqLen })!
  const probe = new Trainer(model.config, model.weights, options, source, source, '', {})
  const losses = (await probe.evaluate())!
  await probe.release()

  const test = readFileSync(join(dirs.corpus, 'test.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { instruction: string; input: string; output: string })
  const items = test.filter((_, i) => i % Math.max(1, Math.floor(test.length / recipe.evaluate.items)) === 0).slice(0, recipe.evaluate.items)
  const session = await ModelSession.open(modelDir)
  const perExit: Record<string, ExitResult> = {}
  const samples: { exit: number; instruction: string; answer: string }[] = []
  const sampleExits = new Set([1, Math.max(1, Math.round(L / 2)), L])
  for (const exit of exits) {
    let em = 0
    let rouge = 0
    let tokens = 0
    let ms = 0
    for (const [i, item] of items.entries()) {
      const content = item.input ? `${item.instruction}\n\n${item.input}` : item.instruction
      const result = await session.generate({ input: { messages: [{ role: 'user', content }] }, maxNewTokens: recipe.evaluate.maxNewTokens, exitAt: () => exit })
      const answer = result.text.trim()
      if (exactMatch(answer, item.output)) em++
      rouge += rougeL(answer, item.output).f1
      tokens += Math.max(0, result.tokens.length - 1)
      ms += result.decodeMs
      if (i < 3 && sampleExits.has(exit)) samples.push({ exit, instruction: content, answer })
    }
    perExit[exit] = {
      val_loss: losses.loss[exit]!,
      perplexity: losses.perplexity[exit]!,
      exact_match: em / items.length,
      rouge_l: rouge / items.length,
      decode_tokens_per_s: ms > 0 ? (tokens / ms) * 1000 : 0,
    }
    say(`  exit ${exit}: val loss ${perExit[exit]!.val_loss.toFixed(3)}, EM ${(100 * perExit[exit]!.exact_match).toFixed(1)}%, ROUGE-L ${perExit[exit]!.rouge_l.toFixed(3)}, ${perExit[exit]!.decode_tokens_per_s.toFixed(0)} tok/s`)
  }
  await session.release()
  return { perExit, samples }
}

async function ship(name: string, modelDir: string, evaluation: Awaited<ReturnType<typeof evaluate>>, mode: 'soft' | 'sft'): Promise<void> {
  const model = loadModelFolder(modelDir)
  const out = join(shipTo, name)
  mkdirSync(shipTo, { recursive: true })
  exportModel(
    {
      config: model.config,
      weights: model.weights,
      sorted: {
        exits: parseExits('all', model.config.numLayers),
        results: evaluation.perExit as unknown as Record<string, Record<string, number>>,
        mode,
        seed,
        recipe,
        samples: evaluation.samples,
      },
    },
    out,
    { dtype: 'F16', tokenizerFrom: dirs.tokenizer, overwrite: true },
  )
  copyFileSync(join(dirs.corpus, 'wordnet-LICENSE'), join(out, 'wordnet-LICENSE'))
  say(`  shipped ${out}`)
}

const evaluations: Record<string, Awaited<ReturnType<typeof evaluate>>> = {}
await runStages(
  work,
  [
    { name: 'corpus', key: recipe.corpus, run: () => void say(`  ${JSON.stringify(writeCorpus(dirs.corpus, { ...recipe.corpus }).sizes.pretrain)}`) },
    {
      name: 'tokenizer',
      key: { vocab: recipe.vocabSize, specialTokens },
      run: () => {
        const texts = [readFileSync(join(dirs.corpus, 'pretrain.txt'), 'utf8'), readFileSync(join(dirs.corpus, 'train.jsonl'), 'utf8')]
        const trained = trainByteLevelBpe(texts.join('\n').split('\n'), { vocabSize: recipe.vocabSize, specialTokens })
        writeTokenizerFiles(dirs.tokenizer, { ...trained, specialTokens, bosToken: '<|begin_of_text|>', eosToken: '<|im_end|>' }, { chatTemplate: CHATML_TEMPLATE })
      },
    },
    {
      name: 'base-init',
      key: { model: recipe.model, vocab: recipe.vocabSize, seed },
      run: () => {
        const config = modelConfig(loadTokenizer(dirs.tokenizer)!.vocabSize)
        rmSync(dirs.init, { recursive: true, force: true })
        exportModel({ config, weights: initialWeights(config, seed) }, dirs.init, { tokenizerFrom: dirs.tokenizer })
        writePretrainRecords(join(work, 'pretrain.jsonl'))
      },
    },
    { name: 'pretrain', key: recipe.pretrain, run: () => train(tuneRequest(dirs.init, join(work, 'pretrain.jsonl'), dirs.base, 'sft', recipe.pretrain)) },
    { name: 'soft', key: recipe.tune, run: () => train(tuneRequest(dirs.base, join(dirs.corpus, 'train.jsonl'), dirs.soft, 'soft', recipe.tune)) },
    { name: 'sft', key: recipe.tune, run: () => train(tuneRequest(dirs.base, join(dirs.corpus, 'train.jsonl'), dirs.sft, 'sft', recipe.tune)) },
    {
      name: 'evaluate',
      key: recipe.evaluate,
      run: async () => {
        for (const mode of ['soft', 'sft'] as const) {
          say(` ${mode}:`)
          evaluations[mode] = await evaluate(dirs[mode])
        }
        writeFileSync(join(work, 'results.json'), JSON.stringify(evaluations, null, 2))
      },
    },
    {
      name: 'ship',
      key: { shipTo },
      run: async () => {
        const results = JSON.parse(readFileSync(join(work, 'results.json'), 'utf8')) as typeof evaluations
        await ship('dictionary-soft', dirs.soft, results.soft!, 'soft')
        await ship('dictionary-sft', dirs.sft, results.sft!, 'sft')
      },
    },
  ],
  say,
)
say(`done: ${shipTo}`)
