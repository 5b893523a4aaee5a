import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import { TuneSetupError } from '../engine/train/errors'
import { exportJob } from '../engine/train/job-export'
import { UsageError, type Command } from './commands'
import { flagOf } from './flags'
import { trainingFlagOptions, trainingRequestFrom } from './tune-flags'

export const exportJobCommand: Command = {
  name: 'export-job',
  summary: 'Write the same fine-tuning run as a PyTorch job (torchrun, DDP/FSDP) for bigger machines.',
  usage: `sorted export-job --model DIR --data FILE --mode soft|sortednet|sft --out JOBDIR [training options] [--json]

Takes every training option of \`sorted tune\` (see \`sorted tune --help\`) and writes JOBDIR:
  train.py        plain PyTorch (>= 1.13): the model, the same losses, AdamW and schedule,
                  DDP via torch.distributed (gloo on CPUs, NCCL on GPUs), FSDP with --fsdp
  job.json        every setting
  model/          a copy of the model folder (config, safetensors, tokenizer)
  data/           the dataset tokenized and split exactly as \`sorted tune\` does it
  README.md       the commands: python3 train.py | torchrun --nproc_per_node N train.py | --nnodes …

When it has run, JOBDIR/output is a model folder with sorted.json and history.jsonl: import it in
the app (Models → Import) to get the model and the run's curves.
  --json                  print one object: jobDir, commands, totalSteps`,
  async run(args) {
    const { values } = parseArgs({
      args,
      strict: true,
      options: { ...trainingFlagOptions, out: { type: 'string' }, json: { type: 'boolean', default: false } },
    })
    const request = trainingRequestFrom(values)
    let job
    try {
      job = await exportJob(request, values.out!, {
        templatesDir: fileURLToPath(new URL('../../resources/jobs', import.meta.url)),
        name: flagOf,
        label: '--out',
      })
    } catch (error) {
      if (error instanceof TuneSetupError) throw new UsageError(error.message)
      throw error
    }
    for (const warning of job.warnings) process.stderr.write(`warning: ${warning}\n`)
    if (values.json) {
      process.stdout.write(`${JSON.stringify(job)}\n`)
      return 0
    }
    process.stdout.write(
      [
        `wrote ${job.jobDir}: ${job.totalSteps} steps, ${job.trainRecords} training and ${job.validationRecords} validation records`,
        '',
        `one process:   ${job.commands.single}`,
        `one node:      ${job.commands.oneNode}`,
        `several nodes: ${job.commands.severalNodes}`,
        '',
        `then import ${job.jobDir}/output in the app (Models → Import).`,
        '',
      ].join('\n'),
    )
    return 0
  },
}
