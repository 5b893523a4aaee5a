/**
 * Models → Import of a PyTorch job's output folder (engine/train/job-output.ts):
 * besides the model, its run goes into Runs, completed, with the per-step
 * per-exit training losses and the validations the job recorded, so its
 * curves and history show there like those of a run trained here.
 *
 * The run's model is the imported one (the job's base model was on another
 * machine, and may not be in this library); its request records the job's
 * settings, where the base model was, and that it was imported.
 */
import { ApiError } from '../api/errors'
import { JobOutputError, jobFolderProblem, readJobOutput, type JobOutput } from '../engine/train/job-output'
import type { MetricInput, Store } from '../store'

/** The job's record in `folder`, undefined for an ordinary model; a job folder or a malformed record refused as invalid_params. */
export function jobOutputOf(folder: string): JobOutput | undefined {
  const problem = jobFolderProblem(folder)
  if (problem) throw new ApiError('invalid_params', problem, [{ path: 'path', message: problem }])
  try {
    return readJobOutput(folder)
  } catch (error) {
    if (error instanceof JobOutputError) throw new ApiError('invalid_params', error.message, [{ path: 'path', message: error.message }])
    throw error
  }
}

/** Records the job's run against the imported model, in one transaction; returns its id. */
export function recordJobRun(store: Store, modelId: string, folder: string, output: JobOutput): string {
  return store.transaction(() => {
    const run = store.runs.create({
      modelId,
      mode: output.mode,
      config: {
        ...JSON.parse(JSON.stringify(output.settings)),
        modelPath: output.baseModel ?? folder,
        ...(output.dataSource !== undefined ? { dataPath: output.dataSource } : {}),
        outDir: folder,
        importedFrom: 'pytorch-job',
      },
      totalSteps: output.totalSteps,
    })
    store.runs.start(run.id)
    const metrics: MetricInput[] = []
    for (const record of output.steps) {
      metrics.push({ step: record.step, exit: null, split: 'train', loss: null, lr: record.lr ?? null, tokensPerSecond: record.tokensPerSecond ?? null })
      for (const [exit, loss] of Object.entries(record.loss)) metrics.push({ step: record.step, exit: Number(exit), split: 'train', loss })
    }
    for (const record of output.validation) {
      for (const [exit, loss] of Object.entries(record.loss)) metrics.push({ step: record.step, exit: Number(exit), split: 'validation', loss })
    }
    store.runs.recordMetrics(run.id, metrics)
    store.runs.finish(run.id, { outputModelId: modelId })
    return run.id
  })
}
