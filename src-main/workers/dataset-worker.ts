/**
 * One dataset preview on its own thread: tokenizing every record of a large
 * file takes seconds, which the main thread (the window, the server's
 * sockets) must never spend. The service starts one worker per preview and
 * ends it when the answer arrives.
 */
import { PreviewInputError, previewTuneDataset } from '../engine/train/dataset-preview'
import { StartPreview, type FromDatasetWorker } from './dataset-protocol'
import { openWorkerPort } from './worker-port'

const port = openWorkerPort<FromDatasetWorker>('dataset worker')

port.listen(
  StartPreview,
  ({ modelPath, dataPath, seqLen, limit }) => {
    try {
      port.post({ type: 'preview', preview: previewTuneDataset({ modelPath, dataPath, seqLen, limit }) })
    } catch (error) {
      if (error instanceof PreviewInputError) port.post({ type: 'failed', error: error.message, field: error.field })
      else port.post({ type: 'failed', error: error instanceof Error ? error.message : String(error) })
    }
  },
  { onMalformed: (issue) => port.post({ type: 'failed', error: `dataset worker: malformed start message (${issue})` }) },
)
