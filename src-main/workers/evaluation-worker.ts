/**
 * One evaluation on its own thread (generation and model judges run ONNX
 * sessions, which block their thread). It opens its own connection to the
 * app's database: outputs and verdicts are stored as they are made, so a
 * killed evaluation resumes where it stopped.
 */
import { parentPort } from 'node:worker_threads'
import { runEvaluation } from '../services/evaluation'
import { openStore } from '../store'
import { CancelEvaluation, StartEvaluation, type FromEvaluationWorker } from './evaluation-protocol'

const port = parentPort
if (!port) throw new Error('evaluation-worker must run in a worker thread')

const post = (message: FromEvaluationWorker) => port.postMessage(message)
const controller = new AbortController()

port.on('message', (raw: unknown) => {
  if (CancelEvaluation.safeParse(raw).success) controller.abort()
})

port.once('message', (raw: unknown) => {
  const parsed = StartEvaluation.safeParse(raw)
  if (!parsed.success) {
    post({ type: 'done', ok: false, error: 'malformed start message', rows: [] })
    return
  }
  const { databasePath, nativeBinding, request } = parsed.data
  const store = openStore(databasePath, nativeBinding ? { nativeBinding } : {})
  runEvaluation(store, request, (progress) => post({ type: 'progress', ...progress }), controller.signal)
    .then(
      (result) => post({ type: 'done', ok: true, setId: result.setId, judge: result.judge, rows: result.rows, work: result.work }),
      (error: unknown) =>
        controller.signal.aborted
          ? post({ type: 'done', ok: false, cancelled: true, error: 'cancelled', rows: [] })
          : post({ type: 'done', ok: false, error: error instanceof Error ? error.message : String(error), rows: [] }),
    )
    .finally(() => store.close())
})

