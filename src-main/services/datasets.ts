/**
 * Datasets for the tuning wizard: previews (a worker thread tokenizes the
 * whole file, so the main thread never stalls on a large one) and uploads
 * from browser mode (stored in the data folder's datasets/, since the server
 * cannot read the browser's disk).
 *
 * The wizard asks for the same preview several times (the preview step, then
 * the estimate); answers are kept, keyed by the files' sizes and times, so
 * an unchanged dataset is tokenized once.
 */
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { basename, extname, join, resolve } from 'node:path'
import type { DatasetPreview } from '../api/contract'
import { ApiError } from '../api/errors'
import { FromDatasetWorker, type StartPreview } from '../workers/dataset-protocol'
import type { WorkerJob, Workers } from './worker-host'

export interface DatasetServiceDeps {
  workers: Workers<'dataset'>
  /** The data folder: uploads go to its datasets/. */
  dataDir: string
}

/**
 * The largest upload: a request is one WebSocket frame (at most 4 MiB), and
 * JSON escaping of the text adds up to a fifth. Larger files are given by path.
 */
export const maxUploadBytes = 2 * 1024 * 1024

const keptPreviews = 4

export interface PreviewParams {
  modelPath: string
  dataPath: string
  seqLen: number
  limit: number
}

interface Kept {
  stamp: string
  limit: number
  preview: DatasetPreview
}

/** Sizes and modification times of the files a preview reads: a change to any means a new preview. */
function stampOf(modelPath: string, dataPath: string): string {
  const files = [dataPath, ...['config.json', 'tokenizer.json', 'tokenizer_config.json', 'chat_template.jinja'].map((f) => join(modelPath, f))]
  return files
    .map((file) => {
      try {
        const stat = statSync(file)
        return `${stat.size}:${stat.mtimeMs}`
      } catch {
        return '-'
      }
    })
    .join('|')
}

function withLimit(preview: DatasetPreview, limit: number): DatasetPreview {
  return preview.records.length <= limit ? preview : { ...preview, records: preview.records.slice(0, limit) }
}

export class DatasetService {
  /** Previews being made, and how each is refused if the app closes first. */
  private readonly jobs = new Map<WorkerJob<StartPreview>, (error: ApiError) => void>()
  private readonly kept = new Map<string, Kept>()
  private readonly inFlight = new Map<string, { limit: number; stamp: string; answer: Promise<DatasetPreview> }>()

  constructor(private readonly deps: DatasetServiceDeps) {}

  async preview(params: PreviewParams): Promise<DatasetPreview> {
    const modelPath = resolve(params.modelPath)
    const dataPath = resolve(params.dataPath)
    const key = `${modelPath}\n${dataPath}\n${params.seqLen}`
    const stamp = stampOf(modelPath, dataPath)
    const kept = this.kept.get(key)
    if (kept && kept.stamp === stamp && kept.limit >= params.limit) return withLimit(kept.preview, params.limit)
    const running = this.inFlight.get(key)
    if (running && running.stamp === stamp && running.limit >= params.limit) return withLimit(await running.answer, params.limit)

    const answer = this.runWorker({ type: 'preview', modelPath, dataPath, seqLen: params.seqLen, limit: params.limit })
    this.inFlight.set(key, { limit: params.limit, stamp, answer })
    try {
      const preview = await answer
      this.kept.delete(key)
      this.kept.set(key, { stamp, limit: params.limit, preview })
      for (const old of [...this.kept.keys()].slice(0, -keptPreviews)) this.kept.delete(old)
      return preview
    } finally {
      if (this.inFlight.get(key)?.answer === answer) this.inFlight.delete(key)
    }
  }

  private runWorker(start: StartPreview): Promise<DatasetPreview> {
    return new Promise<DatasetPreview>((resolvePreview, reject) => {
      const job: WorkerJob<StartPreview> = this.deps.workers.job<StartPreview, FromDatasetWorker, FromDatasetWorker>('dataset', {
        label: 'The dataset worker',
        unavailable: 'Dataset previews are not available in this process.',
        receives: FromDatasetWorker,
        start,
        // The answer is the only message: one that cannot be read is the answer's failure.
        failOnMalformed: true,
        onMessage: (m, end) => end(m),
        onEnd: (ended) => {
          this.jobs.delete(job)
          if (!ended.ok) return reject(new ApiError('internal', ended.error))
          const m = ended.result
          if (m.type === 'preview') return resolvePreview(m.preview)
          if (m.type !== 'failed') return reject(new ApiError('internal', 'The dataset worker answered a preview with a job export.'))
          const field = m.field
          reject(field ? new ApiError('invalid_params', `${field}: ${m.error}`, [{ path: field, message: m.error }]) : new ApiError('internal', m.error))
        },
      })
      this.jobs.set(job, reject)
    })
  }

  /** Stores an uploaded file under datasets/ (an identical earlier upload is reused); written whole or not at all. */
  upload(name: string, content: string): { path: string } {
    const bytes = Buffer.byteLength(content, 'utf8')
    if (bytes > maxUploadBytes) {
      const message = `the file is ${(bytes / 1024 / 1024).toFixed(1)} MB; uploads are limited to ${maxUploadBytes / 1024 / 1024} MB. Give the file's path instead: the server reads it directly.`
      throw new ApiError('invalid_params', `content: ${message}`, [{ path: 'content', message }])
    }
    // Only the file's own name, in characters every file system takes.
    const safe = basename(name.replaceAll('\\', '/')).replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^\.+/, '')
    const extension = extname(safe).toLowerCase()
    if (extension !== '.json' && extension !== '.jsonl') {
      const message = `"${name}" is not a .json or .jsonl file; datasets are JSON arrays or JSON lines.`
      throw new ApiError('invalid_params', `name: ${message}`, [{ path: 'name', message }])
    }
    const folder = join(this.deps.dataDir, 'datasets')
    mkdirSync(folder, { recursive: true })
    const stem = safe.slice(0, -extension.length) || 'dataset'
    const digest = createHash('sha256').update(content).digest('hex')
    for (let n = 1; ; n++) {
      const path = join(folder, n === 1 ? `${stem}${extension}` : `${stem}-${n}${extension}`)
      if (existsSync(path)) {
        if (createHash('sha256').update(readFileSync(path)).digest('hex') === digest) return { path }
        continue
      }
      const temporary = `${path}.tmp-${process.pid}`
      writeFileSync(temporary, content)
      renameSync(temporary, path)
      return { path }
    }
  }

  async close(): Promise<void> {
    const running = [...this.jobs]
    this.jobs.clear()
    await Promise.all(running.map(([job]) => job.abandon()))
    for (const [, refuse] of running) refuse(new ApiError('internal', 'The dataset worker stopped before answering: the app is closing.'))
  }
}
