/**
 * One dataset preview on its own thread: tokenizing every record of a large
 * file takes seconds, which the main thread (the window, the server's
 * sockets) must never spend. The service starts one worker per preview and
 * ends it when the answer arrives.
 */
import { parentPort } from 'node:worker_threads'
import { PreviewInputError, previewTuneDataset } from '../engine/train/dataset-preview'
import { StartPreview, type FromDatasetWorker } from './dataset-protocol'

const port = parentPort
if (!port) throw new Error('dataset-worker must run in a worker thread')
const post = (message: FromDatasetWorker) => port.postMessage(message)

port.once('message', (raw: unknown) => {
  const parsed = StartPreview.safeParse(raw)
  if (!parsed.success) return post({ type: 'failed', error: 'dataset worker: malformed start message' })
  const { modelPath, dataPath, seqLen, limit } = parsed.data
  try {
    post({ type: 'preview', preview: previewTuneDataset({ modelPath, dataPath, seqLen, limit }) })
  } catch (error) {
    if (error instanceof PreviewInputError) post({ type: 'failed', error: error.message, field: error.field })
    else post({ type: 'failed', error: error instanceof Error ? error.message : String(error) })
  }
})
