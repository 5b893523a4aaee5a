/**
 * runs.exportJob: a stored run's request, or the wizard's, written as a
 * PyTorch job folder (engine/train/job-export.ts) in the dataset worker, so
 * tokenizing the dataset never holds up the main thread.
 */
import type { z } from 'zod'
import { TuneRequest, type ExportedJob, type ExportJobRequest } from '../api/contract'
import { ApiError } from '../api/errors'
import type { Store } from '../store'
import { FromDatasetWorker, type ToDatasetWorker } from '../workers/dataset-protocol'
import type { Workers } from './worker-host'

export interface JobExportServiceDeps {
  store: Store
  workers: Workers<'dataset'>
  /** Folder of the PyTorch job template (resources/jobs); default: this checkout's. */
  templatesDir: string | undefined
}

/** runs.exportJob: a stored run's request, or the wizard's, as a job folder; failures as invalid_params naming the field. */
export class JobExportService {
  constructor(private readonly deps: JobExportServiceDeps) {}

  async export(request: z.output<typeof ExportJobRequest>): Promise<ExportedJob> {
    const tune = request.tune ?? this.runRequest(request.runId!)
    const start: ToDatasetWorker = { type: 'exportJob', request: tune, jobDir: request.jobDir, ...(this.deps.templatesDir ? { templatesDir: this.deps.templatesDir } : {}) }
    return new Promise<ExportedJob>((resolve, reject) => {
      this.deps.workers.job<ToDatasetWorker, FromDatasetWorker, FromDatasetWorker>('dataset', {
        label: 'The dataset worker',
        unavailable: 'Exporting a job is not available in this process.',
        receives: FromDatasetWorker,
        start,
        // The answer is the only message: one that cannot be read is the answer's failure.
        failOnMalformed: true,
        onMessage: (m, end) => end(m),
        onEnd: (ended) => {
          if (!ended.ok) return reject(new ApiError('internal', ended.error))
          const m = ended.result
          if (m.type === 'exported') return resolve(m.job)
          if (m.type === 'failed') return reject(refusal(m.error, m.fields))
          reject(new ApiError('internal', 'The dataset worker answered an export with a preview.'))
        },
      })
    })
  }

  /** What the run was started with: the contract's TuneRequest, as runs.start stored it. */
  private runRequest(runId: string): z.output<typeof TuneRequest> {
    const run = this.deps.store.runs.get(runId)
    if (!run) throw new ApiError('not_found', `No run ${runId}.`)
    const parsed = TuneRequest.safeParse(run.config)
    if (!parsed.success) throw new ApiError('conflict', `Run ${runId} has no tune request to export (it was imported, not started here).`)
    return parsed.data
  }
}

/** A fault of the request's (the worker names its fields) as invalid_params; anything else as an internal error. */
function refusal(message: string, fields: string[] | undefined): ApiError {
  if (!fields || fields.length === 0) return new ApiError('internal', message)
  return new ApiError('invalid_params', message, fields.map((path) => ({ path, message })))
}
