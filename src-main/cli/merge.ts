import { parseArgs } from 'node:util'
import { mergeAdapterFolder } from '../engine/model/merge-adapter'
import { readAdapterSettings } from '../engine/model/peft-adapter'
import { UsageError, type Command } from './commands'
import { numberOption, positiveInt } from './options'

export const mergeCommand: Command = {
  name: 'merge',
  summary: 'Merge a LoRA / DyLoRA adapter into its base model: a plain Hugging Face folder.',
  usage: `sorted merge --base DIR --adapter DIR --out DIR [--adapter-rank B]

  --base DIR          the base model folder the adapter was trained on
  --adapter DIR       a PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors)
  --out DIR           new or empty folder for the merged model (W + alpha/r · B·A), with the
                      base's tokenizer and the adapter's sorted.json
  --adapter-rank B    a DyLoRA adapter's rank to merge, 1..r (default r)`,
  async run(args) {
    const { values } = parseArgs({
      args,
      strict: true,
      options: { base: { type: 'string' }, adapter: { type: 'string' }, out: { type: 'string' }, 'adapter-rank': { type: 'string' } },
    })
    for (const required of ['base', 'adapter', 'out'] as const) if (!values[required]) throw new UsageError(`--${required} is required.`)
    const rank = numberOption('adapter-rank', values['adapter-rank'], positiveInt, 'a positive whole number')
    if (rank !== undefined) {
      const { rank: r } = readAdapterSettings(values.adapter!)
      if (rank > r) throw new UsageError(`--adapter-rank ${rank} is above the adapter's r ${r} (${values.adapter}).`)
    }
    const result = mergeAdapterFolder({ baseDir: values.base!, adapterDir: values.adapter!, outDir: values.out!, rank })
    process.stderr.write(`wrote ${result.dir} (${result.files.join(', ')})\n`)
    return 0
  },
}
