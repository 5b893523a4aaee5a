/**
 * "Export as a multi-GPU job": one service for `sorted export-job`, the tune
 * wizard's last step and a finished run. It prepares the job (engine/train/job.ts),
 * writes the folder with the PyTorch template shipped in resources/jobs and a
 * README, and returns the commands that run it.
 */
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { JOB_SCRIPT, prepareJob, writeJobFolder, type JobDescription, type JobRequest } from '../engine/train/job'
import type { SettingNamer } from '../engine/train/errors'
import type { z } from 'zod'
import { TuneRequest, type ExportedJob, type ExportJobRequest } from '../api/contract'
import { ApiError } from '../api/errors'
import { DatasetError } from '../engine/data'
import { ConfigError } from '../engine/model/config'
import { ModelImportError } from '../engine/model/import'
import { SafetensorsError } from '../engine/model/safetensors'
import { TokenizerFileError } from '../engine/tokenizer/files'
import { TuneSetupError } from '../engine/train/errors'
import type { Store } from '../store'
import packageJson from '../../package.json'

/** Shell commands that run a job: one process, one node (torchrun), several nodes. */
export type JobCommands = ExportedJob['commands']

/**
 * Where the template lives: the folder given (a packaged app's resources),
 * else resources/jobs of this checkout, found from this module (two levels
 * up from source or from out/main, three from a bundled chunk).
 */
export function jobTemplatesDir(given?: string): string {
  const here = dirname(fileURLToPath(import.meta.url))
  const candidates = [given, resolve(here, '../../resources/jobs'), resolve(here, '../../../resources/jobs')].filter((c): c is string => c !== undefined)
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

/** runs.exportJob: a stored run's request, or the wizard's, as a job folder; failures as invalid_params naming the field. */
export class JobExportService {
  constructor(
    private readonly store: Store,
    private readonly templatesDir: string | undefined,
  ) {}

  async export(request: z.output<typeof ExportJobRequest>): Promise<ExportedJob> {
    const tune = request.tune ?? this.runRequest(request.runId!)
    const { outDir: _outDir, ...job } = tune
    try {
      return await exportJob(job, request.jobDir, { templatesDir: this.templatesDir, label: 'jobDir' })
    } catch (error) {
      throw refusal(error)
    }
  }

  /** What the run was started with: the contract's TuneRequest, as runs.start stored it. */
  private runRequest(runId: string): z.output<typeof TuneRequest> {
    const run = this.store.runs.get(runId)
    if (!run) throw new ApiError('not_found', `No run ${runId}.`)
    const parsed = TuneRequest.safeParse(run.config)
    if (!parsed.success) throw new ApiError('conflict', `Run ${runId} has no tune request to export (it was imported, not started here).`)
    return parsed.data
  }
}

/** The request's fault as invalid_params naming the field (the model's or dataset's files name themselves); anything else as it is. */
function refusal(error: unknown): unknown {
  const named = (field: string, message: string) => new ApiError('invalid_params', `${field}: ${message}`, [{ path: field, message }])
  if (error instanceof TuneSetupError) {
    return new ApiError('invalid_params', error.message, (error.settings.length > 0 ? error.settings : ['jobDir']).map((path) => ({ path, message: error.message })))
  }
  if (error instanceof ModelImportError || error instanceof ConfigError || error instanceof SafetensorsError) return named('modelPath', error.message)
  if (error instanceof DatasetError || error instanceof TokenizerFileError) return named('dataPath', error.message)
  return error
}
