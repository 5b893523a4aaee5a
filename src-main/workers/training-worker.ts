/**
 * A fine-tuning job on its own thread: every session.run of training blocks
 * its thread for the whole step. The service starts one worker per job and
 * ends it when the job ends.
 */
import { runTuneJob } from '../engine/train/tune-job'
import { ToTrainingWorker, type FromTrainingWorker } from './training-protocol'
import { openWorkerPort } from './worker-port'

const port = openWorkerPort<FromTrainingWorker>('training worker')
const post = port.post
const controller = new AbortController()

port.listen(ToTrainingWorker, (message) => {
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
        log: port.log,
        onStep: ({ step, totalSteps, record, etaSeconds }) =>
          post({ type: 'step', step, totalSteps, loss: record.loss, lr: record.lr, gradNorm: record.gradNorm, tokensPerSecond: record.tokensPerSecond, etaSeconds }),
        onValidation: (v) => post({ type: 'validation', step: v.step, loss: v.loss, perplexity: v.perplexity }),
        onCheckpoint: (step, path) => post({ type: 'checkpoint', step, path }),
        // The service stores by upsert: steps it already has are replaced by the same figures, lost ones come back.
        onRestored: (state, totalSteps) => {
          for (const record of state.history) {
            post({ type: 'step', step: record.step, totalSteps, loss: record.loss, lr: record.lr, gradNorm: record.gradNorm, tokensPerSecond: record.tokensPerSecond, etaSeconds: 0 })
          }
          for (const v of state.validation) post({ type: 'validation', step: v.step, loss: v.loss, perplexity: v.perplexity })
        },
      },
    },
  ).then(
    (outcome) => post({ type: 'done', finished: outcome.finished, step: outcome.step, ...(outcome.out ? { out: outcome.out } : {}) }),
    (error: unknown) => post({ type: 'failed', error: error instanceof Error ? error.message : String(error) }),
  )
})
