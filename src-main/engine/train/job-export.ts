/**
 * "Export as a multi-GPU job": prepares the job (job.ts), writes the folder
 * with the PyTorch template shipped in resources/jobs and a README, and
 * returns the commands that run it. `sorted export-job` calls it directly;
 * the app runs it in the dataset worker (tokenizing a large dataset takes
 * seconds, which the main thread must never spend).
 */
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { JOB_SCRIPT, prepareJob, writeJobFolder, type JobDescription, type JobRequest } from './job'
import type { SettingNamer } from './errors'
import packageJson from '../../../package.json'

/** A written job folder and how to run it (the contract's ExportedJob; services/engine-types.ts holds them equal). */
export interface ExportedJob {
  jobDir: string
  /** Shell commands that run it: one process, one node (torchrun --nproc_per_node), several nodes. */
  commands: { single: string; oneNode: string; severalNodes: string }
  totalSteps: number
  trainRecords: number
  validationRecords: number
  warnings: string[]
}

/** Shell commands that run a job: one process, one node (torchrun), several nodes. */
export type JobCommands = ExportedJob['commands']

/**
 * Where the template lives: the folder given (a packaged app's resources),
 * else resources/jobs of this checkout, found from this module (three levels
 * up from source, two from out/main, four from a bundled worker chunk).
 */
export function jobTemplatesDir(given?: string): string {
  const here = dirname(fileURLToPath(import.meta.url))
  const candidates = [given, resolve(here, '../../../resources/jobs'), resolve(here, '../../resources/jobs'), resolve(here, '../../../../resources/jobs')].filter((c): c is string => c !== undefined)
  return candidates.find((c) => existsSync(join(c, JOB_SCRIPT))) ?? candidates[0]!
}

function quote(path: string): string {
  return /^[\w@%+=:,./-]+$/.test(path) ? path : `'${path.replace(/'/g, `'\\''`)}'`
}

export function jobCommands(jobDir: string): JobCommands {
  const script = quote(join(jobDir, JOB_SCRIPT))
  return {
    single: `python3 ${script}`,
    oneNode: `torchrun --nproc_per_node 8 ${script}`,
    severalNodes: `torchrun --nnodes 2 --nproc_per_node 8 --node_rank $NODE_RANK --rdzv-backend c10d --rdzv-endpoint HOST:29500 ${script}`,
  }
}

/** The job folder's README: what it holds, how to run it, and how to bring the result back. */
export function jobReadme(job: JobDescription): string {
  const t = job.training
  const c = job.model.config
  return `# Sorted Studio training job

${t.mode === 'soft' ? 'SoFT' : t.mode === 'sortednet' ? 'SortedNet' : 'SFT'} on a ${c.numLayers}-layer ${c.hfArchitecture} (from \`${job.model.source}\`),
exits ${t.exits.join(', ')}, ${t.totalSteps} optimizer steps of ${t.batchSize} × ${t.gradAccum} rows (batch size × gradient
accumulation), learning rate ${t.lr} (${t.schedule}, ${t.warmupSteps} warmup steps), seed ${t.seed}.
Data: ${job.data.trainRecords} training and ${job.data.validationRecords} validation records from \`${job.data.source}\`,
tokenized by Sorted Studio ${job.app.version} (\`data/*.jsonl\`).

This folder is self-contained: copy it to the machine(s) that will train. It needs Python 3 with
PyTorch ≥ 1.13 and NumPy, nothing else (no \`transformers\`).

## Run

One process (a CPU, or one GPU):

    python3 train.py

One node with N GPUs (DDP; NCCL on GPUs, gloo on CPUs):

    torchrun --nproc_per_node N train.py

Several nodes (run on each, with its own NODE_RANK; HOST is node 0's address):

    torchrun --nnodes 2 --nproc_per_node 8 --node_rank $NODE_RANK \\
        --rdzv-backend c10d --rdzv-endpoint HOST:29500 train.py

Where \`torchrun\` is not on the PATH: \`python3 -m torch.distributed.run …\` takes the same options.
Debian's PyTorch 1.13 on Python 3.11 has a torchrun that stops at once with
\`AttributeError: 'NoneType' object has no attribute 'get'\`: add \`--redirects 1 --tee 1\`.

Options of train.py:

- \`--fsdp\`: shard parameters, gradients and optimizer state (FSDP) instead of replicating them (DDP):
  for models that do not fit one GPU. Needs GPUs and a PyTorch whose FSDP imports (≥ 2.0 recommended;
  Debian's 1.13 on Python 3.11 cannot).
- \`--resume\`: continue from the newest checkpoint in \`checkpoints/\` (every ${t.checkpointEvery || 'end-of-run'} steps); with FSDP,
  resume with the same number of processes.
- \`--micro-batch-size M\`: rows per forward pass on each process (default ${t.batchSize}); the optimizer step is the same.
- \`--cpu\`: ignore CUDA. \`--fp32\`: no bf16 autocast on GPUs.

Any number of processes trains the same steps: each step's ${t.batchSize * t.gradAccum} rows are shared out among
them and every target token weighs the same, exactly as in the app.

## Bring the result back

When it finishes, \`output/\` is a Hugging Face model folder with \`sorted.json\` (exits, per-exit
validation), \`history.jsonl\` (per-step, per-exit training loss) and \`validation.jsonl\`.
In Sorted Studio: Models → Import, choose \`output/\`; the run appears in Runs with its curves.
`
}

/**
 * Prepares and writes a job folder. `label` is how the caller named the
 * folder (`--out`, `jobDir`), `name` how it names request fields. Throws
 * TuneSetupError or the model's and dataset's own errors.
 */
export async function exportJob(
  request: JobRequest,
  jobDir: string,
  options: { templatesDir?: string | undefined; name?: SettingNamer; label: string },
): Promise<ExportedJob> {
  const prepared = prepareJob(request, { name: 'Sorted Studio', version: packageJson.version }, options.name)
  const dir = await writeJobFolder(prepared, jobDir, { templateDir: jobTemplatesDir(options.templatesDir), readme: jobReadme(prepared.description), label: options.label })
  return {
    jobDir: dir,
    commands: jobCommands(dir),
    totalSteps: prepared.description.training.totalSteps,
    trainRecords: prepared.description.data.trainRecords,
    validationRecords: prepared.description.data.validationRecords,
    warnings: prepared.warnings,
  }
}

