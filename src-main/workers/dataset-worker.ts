/**
 * A dataset job on its own thread: a preview, or a PyTorch job export.
 * Tokenizing every record of a large file takes seconds, which the main
 * thread (the window, the server's sockets) must never spend. The services
 * start one worker per job and end it when the answer arrives.
 */
import { DatasetError } from '../engine/data'
import { ConfigError } from '../engine/model/config'
import { ModelImportError } from '../engine/model/import'
import { SafetensorsError } from '../engine/model/safetensors'
import { TokenizerFileError } from '../engine/tokenizer/files'
import { TuneSetupError } from '../engine/train/errors'
import { exportJob } from '../engine/train/job-export'
import { PreviewInputError, previewTuneDataset } from '../engine/train/dataset-preview'
import { ToDatasetWorker, type FromDatasetWorker } from './dataset-protocol'
import { openWorkerPort } from './worker-port'

const port = openWorkerPort<FromDatasetWorker>('dataset worker')

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error))

/** An export's failure, with the request fields at fault when it is the user's to fix (the model's and dataset's files name themselves). */
function exportFailure(error: unknown): FromDatasetWorker {
  const message = messageOf(error)
  if (error instanceof TuneSetupError) return { type: 'failed', error: message, fields: error.settings.length > 0 ? error.settings : ['jobDir'] }
  if (error instanceof ModelImportError || error instanceof ConfigError || error instanceof SafetensorsError) {
    return { type: 'failed', error: `modelPath: ${message}`, fields: ['modelPath'] }
  }
  if (error instanceof DatasetError || error instanceof TokenizerFileError) return { type: 'failed', error: `dataPath: ${message}`, fields: ['dataPath'] }
  return { type: 'failed', error: message }
}

port.listen(
  ToDatasetWorker,
  async (start) => {
    if (start.type === 'exportJob') {
      const { outDir: _outDir, ...request } = start.request
      try {
        port.post({ type: 'exported', job: await exportJob(request, start.jobDir, { templatesDir: start.templatesDir, label: 'jobDir' }) })
      } catch (error) {
        port.post(exportFailure(error))
      }
      return
    }
    const { modelPath, dataPath, seqLen, limit } = start
    try {
      port.post({ type: 'preview', preview: previewTuneDataset({ modelPath, dataPath, seqLen, limit }) })
    } catch (error) {
      if (error instanceof PreviewInputError) port.post({ type: 'failed', error: error.message, field: error.field })
      else port.post({ type: 'failed', error: messageOf(error) })
    }
  },
  { onMalformed: (issue) => port.post({ type: 'failed', error: `dataset worker: malformed start message (${issue})` }) },
)
