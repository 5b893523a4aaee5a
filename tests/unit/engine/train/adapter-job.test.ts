import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { loadModelFolder } from '../../../../src-main/engine/model/import'
import { loraSlots } from '../../../../src-main/engine/model/lora'
import { AdapterError, readPeftAdapter, writePeftAdapter } from '../../../../src-main/engine/model/peft-adapter'
import { readSafetensors } from '../../../../src-main/engine/model/safetensors'
import { TuneSetupError } from '../../../../src-main/engine/train/errors'
import { checkMemory } from '../../../../src-main/engine/train/memory-budget'
import { planStep } from '../../../../src-main/engine/train/run-plan'
import { checkpointDirOf, runTuneJob, type TuneRequest } from '../../../../src-main/engine/train/tune-job'
import { loadQuantizedBase } from '../../../../src-main/engine/train/quantized-base'
import { tinyConfig, tinyWeights } from '../generate/random-model'
import { writePrequantizedFolder } from '../generate/prequantized-folder'
import { tuneJobFixture } from './tune-job-fixture'

const fixture = tuneJobFixture('adapter-job-', { maxSteps: 3 })
const { root, modelDir, request } = fixture
afterAll(() => fixture.remove())

const run = (tune: TuneRequest, resume = false) => runTuneJob(tune, { resume, name: (s) => `--${s}`, hooks: { intraOpThreads: 1 } })

async function refusal(tune: TuneRequest): Promise<TuneSetupError> {
  const error = await run(tune).then(() => new Error('expected a refusal'), (e: unknown) => e)
  if (!(error instanceof TuneSetupError)) throw error
  return error
}

describe('a LoRA tune job writes a PEFT adapter', () => {
  it('adapter_config.json, adapter_model.safetensors with PEFT names and shapes, and sorted.json', async () => {
    const tune = request({ adapter: 'lora', loraRank: 4, loraAlpha: 8, loraTargets: 'q,v,down' })
    const outcome = await run(tune)
    expect(outcome.finished).toBe(true)
    const config = JSON.parse(readFileSync(join(tune.outDir, 'adapter_config.json'), 'utf8'))
    expect(config).toMatchObject({ peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 4, lora_alpha: 8, target_modules: ['q_proj', 'v_proj', 'down_proj'], base_model_name_or_path: modelDir })
    const { tensors } = readSafetensors(join(tune.outDir, 'adapter_model.safetensors'))
    const base = loadModelFolder(modelDir).config
    const q = tensors.get('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight')!
    expect(q.shape).toEqual([4, base.hiddenSize])
    expect(tensors.get('base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight')!.shape).toEqual([base.numHeads * base.headDim, 4])
    expect(tensors.size).toBe(base.numLayers * 3 * 2)
    const sorted = JSON.parse(readFileSync(join(tune.outDir, 'sorted.json'), 'utf8'))
    expect(sorted.exits).toEqual([1, 2, 3])
    expect(Object.keys(sorted.results['3'])).toContain('val_loss')
    expect(sorted.adapter).toMatchObject({ kind: 'lora', rank: 4, alpha: 8 })
  })

  it('round-trips: reading the folder back gives the same tensors under the same names, and writing that again the same bytes', async () => {
    const tune = request({ adapter: 'lora', loraRank: 2, trainNorm: true })
    await run(tune)
    const config = loadModelFolder(modelDir).config
    const adapter = readPeftAdapter(tune.outDir, config)
    expect(adapter.spec).toMatchObject({ kind: 'lora', rank: 2, alpha: 32, targets: ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] })
    expect([...adapter.tensors.keys()]).toEqual(loraSlots(config, adapter.spec).map((s) => s.name))
    expect(adapter.norm).toHaveLength(config.hiddenSize)
    const again = join(root, 'again')
    writePeftAdapter(again, config, adapter)
    for (const file of ['adapter_model.safetensors', 'adapter_config.json', 'sorted.json']) {
      expect(readFileSync(join(again, file)).equals(readFileSync(join(tune.outDir, file)))).toBe(true)
    }
  })

  it('a DyLoRA run records validation loss per rank and exit in sorted.json', async () => {
    const tune = request({ adapter: 'dylora', loraRank: 4 })
    await run(tune)
    const sorted = JSON.parse(readFileSync(join(tune.outDir, 'sorted.json'), 'utf8'))
    expect(sorted.adapter.kind).toBe('dylora')
    expect(sorted.ranks).toEqual([1, 2, 4])
    expect(Object.keys(sorted.results_by_rank)).toEqual(['1', '2', '4'])
    for (const rank of ['1', '2', '4']) expect(Object.keys(sorted.results_by_rank[rank])).toEqual(['1', '2', '3'])
    expect(readPeftAdapter(tune.outDir, loadModelFolder(modelDir).config).spec.kind).toBe('dylora')
  })

  it('resumes an adapter run with the same settings, and refuses a changed adapter', async () => {
    const tune = request({ adapter: 'lora', loraRank: 2, maxSteps: 3 })
    const controller = new AbortController()
    await runTuneJob(tune, { resume: false, signal: controller.signal, hooks: { intraOpThreads: 1, onStep: ({ step }) => step === 1 && controller.abort() } })
    const error = await runTuneJob({ ...tune, loraRank: 4 }, { resume: true, name: (s) => `--${s}` }).catch((e: unknown) => e as Error)
    expect((error as Error).message).toBe(
      `the checkpoints in ${checkpointDirOf(tune.outDir)} were made with other settings: --adapter lora (rank 2, alpha 32, targets q,k,v,o,gate,up,down) (now lora (rank 4, alpha 32, targets q,k,v,o,gate,up,down)). Resume with the same settings, or start a new run.`,
    )
    expect(await run(tune, true)).toMatchObject({ finished: true, step: 3 })
  })
})

describe('a QLoRA tune job (LoRA on a 4-bit base)', () => {
  it('loads the base with every decoder Linear 4-bit and no fp32 copy, the untied LM head fp32 as the file holds it', () => {
    const float = loadModelFolder(modelDir)
    expect(float.config.tieWordEmbeddings).toBe(false)
    const { weights } = loadQuantizedBase(modelDir, { bits: 4, blockSize: 32 })
    for (const layer of weights.layers) {
      for (const field of ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] as const) {
        expect(layer[field]).toHaveLength(0)
        expect(layer.prequantized?.[field]).toMatchObject({ bits: 4, blockSize: 32 })
      }
    }
    expect(weights.lmHeadPacked).toBeUndefined()
    expect(weights.lmHead).toEqual(float.weights.lmHead)
    expect(weights.embed).toEqual(float.weights.embed)
  })

  it('writes a PEFT LoRA adapter for the float base, and records the 4-bit base in sorted.json and run.json', async () => {
    const tune = request({ adapter: 'qlora', blockSize: 64, loraRank: 4 })
    const outcome = await run(tune)
    expect(outcome.finished).toBe(true)
    const config = loadModelFolder(modelDir).config
    const adapter = readPeftAdapter(tune.outDir, config)
    expect(adapter.spec).toMatchObject({ kind: 'lora', rank: 4 })
    expect([...adapter.tensors.keys()]).toEqual(loraSlots(config, adapter.spec).map((s) => s.name))
    const sorted = JSON.parse(readFileSync(join(tune.outDir, 'sorted.json'), 'utf8'))
    expect(sorted.adapter).toMatchObject({ kind: 'lora', rank: 4, quantized_base: { bits: 4, block_size: 64 } })
    const record = JSON.parse(readFileSync(join(checkpointDirOf(tune.outDir), 'run.json'), 'utf8'))
    expect(record.settings.adapter.quantizedBase).toEqual({ bits: 4, blockSize: 64 })
  })

  it('refuses to resume a LoRA run as QLoRA (a different base), naming the change', async () => {
    const tune = request({ adapter: 'lora', loraRank: 2, maxSteps: 3 })
    const controller = new AbortController()
    await runTuneJob(tune, { resume: false, signal: controller.signal, hooks: { intraOpThreads: 1, onStep: ({ step }) => step === 1 && controller.abort() } })
    const error = await runTuneJob({ ...tune, adapter: 'qlora' }, { resume: true, name: (s) => `--${s}` }).catch((e: unknown) => e as Error)
    expect((error as Error).message).toBe(
      `the checkpoints in ${checkpointDirOf(tune.outDir)} were made with other settings: --adapter lora (rank 2, alpha 32, targets q,k,v,o,gate,up,down) (now qlora (rank 2, alpha 32, targets q,k,v,o,gate,up,down, 4-bit base, block 32)). Resume with the same settings, or start a new run.`,
    )
  })

  it('refuses a GPTQ folder as the base, naming the flag', async () => {
    const dir = join(root, 'gptq')
    const config = tinyConfig({ layers: 2, hidden: 32, heads: 2, kvHeads: 1, intermediate: 64, vocab: 300 })
    writePrequantizedFolder(dir, config, tinyWeights(config, 2), { method: 'gptq', groupSize: 32, symmetric: true })
    expect((await refusal(request({ modelPath: dir, adapter: 'qlora' }))).message).toBe(
      `--adapter qlora on ${dir}: it holds GPTQ 4-bit weights, and QLoRA on a pre-quantized base is not implemented; give the unquantized (fp32/fp16/bf16) checkpoint.`,
    )
  })
})

describe('adapter settings are refused with a message naming the setting', () => {
  it('a block size without QLoRA, or one QLoRA does not offer', async () => {
    expect((await refusal(request({ adapter: 'lora', blockSize: 64 }))).message).toBe("--blockSize only applies to a QLoRA run (the 4-bit base's block): add --adapter qlora.")
    expect((await refusal(request({ adapter: 'qlora', blockSize: 48 }))).message).toBe('--blockSize must be 32, 64, 128 (got 48).')
  })
  it('a dropout other than 0', async () => {
    expect((await refusal(request({ adapter: 'lora', loraDropout: 0.1 }))).message).toBe(
      '--loraDropout 0.1: only 0 is supported (adapter dropout is not implemented; the training graphs are deterministic).',
    )
  })
  it('an unknown target', async () => {
    expect((await refusal(request({ adapter: 'lora', loraTargets: 'q,qkv' }))).message).toBe('--loraTargets: "qkv" is not one of q,k,v,o,gate,up,down.')
  })
  it('a LoRA setting without an adapter', async () => {
    expect((await refusal(request({ loraRank: 8 }))).message).toBe('--loraRank only applies to an adapter run: add --adapter lora or dylora.')
  })
})

describe('the memory check before an adapter run', () => {
  it('counts gradients and optimizer state for the adapter only: a batch refused for full fine-tuning can fit with LoRA', () => {
    const config = loadModelFolder(modelDir).config
    const batch = { mode: 'soft' as const, exits: [1, 2, 3], batchSize: 2, seqLen: 64 }
    const full = planStep(config, batch).memory.peakBytes
    const budget = full - 1
    expect(() => checkMemory(config, batch, (s) => s, budget)).toThrow(TuneSetupError)
    expect(() => checkMemory(config, { ...batch, adapter: { kind: 'lora', rank: 2, alpha: 4, targets: ['q', 'v'], trainNorm: false } }, (s) => s, budget)).not.toThrow()
  })
})

describe('reading a PEFT adapter that does not fit', () => {
  it('names the file and the field', async () => {
    const tune = request({ adapter: 'lora', loraRank: 2, loraTargets: 'q' })
    await run(tune)
    const file = join(tune.outDir, 'adapter_config.json')
    const config = loadModelFolder(modelDir).config
    const json = JSON.parse(readFileSync(file, 'utf8'))
    writeFileSync(file, JSON.stringify({ ...json, r: 3 }))
    expect(() => readPeftAdapter(tune.outDir, config)).toThrow(AdapterError)
    expect(() => readPeftAdapter(tune.outDir, config)).toThrow(/adapter_model\.safetensors: tensor "base_model\.model\.model\.layers\.0\.self_attn\.q_proj\.lora_A\.weight" has shape \[2, \d+\], the base model and r 3 need \[3, \d+\]/)
    writeFileSync(file, JSON.stringify({ ...json, use_rslora: true }))
    expect(() => readPeftAdapter(tune.outDir, config)).toThrow(/adapter_config\.json: field "use_rslora"/)
  })
})
