/**
 * `sorted quantize`: a float model folder → a 4-bit GPTQ-format folder that
 * Hugging Face tooling (transformers + optimum/GPTQModel) loads, and that
 * `sorted generate` loads as int4 without quantizing again.
 */
import { parseArgs } from 'node:util'
import { QuantBlockSize } from '../api/contract'
import { exportModel } from '../engine/model/export'
import { loadModelFolder } from '../engine/model/import'
import { UsageError, type Command } from './commands'

export const quantizeCommand: Command = {
  name: 'quantize',
  summary: 'Write a model with 4-bit weights as a GPTQ-format Hugging Face folder.',
  usage: `sorted quantize --model DIR --weights int4 --out DIR [options]

  --model DIR         a Hugging Face model folder with float weights
  --weights int4      the precision to write (GPTQ holds 4-bit weights only)
  --block-size B      32 (default) | 64 | 128: weights per quantization block, written as
                      GPTQ's group_size (desc_act false, symmetric, checkpoint_format gptq)
  --out DIR           the folder to write (appears whole or not at all)
  --overwrite         replace a non-empty --out

Decoder linear layers are quantized exactly as \`sorted generate --weights int4\` does
(round-to-nearest per block), then stored as qweight/qzeros/scales/g_idx with fp16
scales; the embedding, norms and LM head stay float32. Tokenizer files and sorted.json
are copied.`,
  async run(args) {
    const { values } = parseArgs({
      args,
      options: {
        model: { type: 'string' },
        weights: { type: 'string' },
        'block-size': { type: 'string' },
        out: { type: 'string' },
        overwrite: { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: false,
    })
    if (!values.model) throw new UsageError('--model DIR is required.')
    if (!values.out) throw new UsageError('--out DIR is required.')
    if (values.weights !== 'int4') throw new UsageError(`--weights must be int4: GPTQ folders hold 4-bit weights (got ${values.weights === undefined ? 'nothing' : `"${values.weights}"`}).`)
    const blockText = values['block-size'] ?? '32'
    const block = QuantBlockSize.safeParse(Number(blockText))
    if (!/^\d+$/.test(blockText) || !block.success) throw new UsageError(`--block-size must be 32, 64 or 128 (got "${blockText}").`)
    const model = loadModelFolder(values.model)
    const result = exportModel(model, values.out, { gptq: { blockSize: block.data }, overwrite: values.overwrite })
    process.stdout.write(`Wrote ${result.dir} (GPTQ 4-bit, group size ${block.data}): ${result.files.join(', ')}\n`)
    return 0
  },
}
