/**
 * A fine-tuning job on its own thread: every session.run of training blocks
 * its thread for the whole step. The service starts one worker per job and
 * ends it when the job ends.
 */
import { parentPort } from 'node:worker_threads'
import { runTuneJob } from '../engine/train/tune-job'
import { FromTrainingWorker, ToTrainingWorker } from './training-protocol'

const port = parentPort
if (!port) throw new Error('training-worker must run in a worker thread')
const post = (message: FromTrainingWorker) => port.postMessage(message)
const controller = new AbortController()

port.on('message', (raw: unknown) => {
  const parsed = ToTrainingWorker.safeParse(raw)
  if (!parsed.success) return post({ type: 'log', message: `training worker: ignoring a malformed message` })
  const message = parsed.data
  if (message.type === 'cancel') return controller.abort()
  const { request, provider, resume } = message
  runTuneJob(
    { ...request, provider },
    {
      resume,
      who: 'Sorted Studio app',
      signal: controller.signal,
      onPrepared: (p) => post({ type: 'prepared', totalSteps: p.options.totalSteps, resumedFrom: p.resumedFrom }),
      hooks: {
        log: (m) => post({ type: 'log', message: m }),
        onStep: ({ step, totalSteps, record, etaSeconds }) =>
          post({ type: 'step', step, totalSteps, loss: record.loss, lr: record.lr, gradNorm: record.gradNorm, tokensPerSecond: record.tokensPerSecond, etaSeconds }),
        onValidation: (v) => post({ type: 'validation', step: v.step, loss: v.loss, perplexity: v.perplexity }),
        onCheckpoint: (step, path) => post({ type: 'checkpoint', step, path }),
      },
    },
  ).then(
    (outcome) => post({ type: 'done', finished: outcome.finished, step: outcome.step, ...(outcome.out ? { out: outcome.out } : {}) }),
    (error: unknown) => post({ type: 'failed', error: error instanceof Error ? error.message : String(error) }),
  )
})
