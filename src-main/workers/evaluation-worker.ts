/**
 * One evaluation on its own thread (generation and model judges run ONNX
 * sessions, which block their thread). It computes and reports: each answer
 * and verdict goes to the evaluation service as soon as it is made, and the
 * service stores it, so a stopped or killed evaluation resumes where it
 * stopped. The worker never opens the database.
 */
import { resolve } from 'node:path'
import { parentPort } from 'node:worker_threads'
import { runBatchEvaluation, type Answer, type BatchRecords } from '../engine/judge/batch'
import type { ContenderAtExit } from '../engine/judge/contender'
import type { Verdict } from '../engine/judge/pandalm'
import { CancelEvaluation, StartEvaluation, type FromEvaluationWorker } from './evaluation-protocol'

const port = parentPort
if (!port) throw new Error('evaluation-worker must run in a worker thread')

const post = (message: FromEvaluationWorker) => port.postMessage(message)
const controller = new AbortController()

const key = (itemId: string, c: ContenderAtExit) => `${itemId}|${resolve(c.modelPath)}@${c.exit}`

/** What is recorded, kept in memory: the start message's, plus each new record, which is reported for the service to store. */
function reportingRecords(recorded: StartEvaluation['recorded']): BatchRecords {
  const answers = new Map<string, Answer>(recorded.answers.map((r) => [key(r.itemId, r.contender), r.answer]))
  const verdicts = new Map<string, { ab: Verdict; ba: Verdict }>(recorded.verdicts.map((r) => [`${key(r.itemId, r.a)}|${key(r.itemId, r.b)}|${r.judge}`, r]))
  return {
    answer: (item, contender) => answers.get(key(item.id, contender)),
    recordAnswer(item, contender, answer) {
      answers.set(key(item.id, contender), answer)
      post({ type: 'answer', itemId: item.id, contender, answer })
    },
    verdicts: (item, a, b, judge) => verdicts.get(`${key(item.id, a)}|${key(item.id, b)}|${judge}`),
    recordVerdicts(item, a, b, judge, made) {
      verdicts.set(`${key(item.id, a)}|${key(item.id, b)}|${judge}`, { ab: made.ab.verdict, ba: made.ba.verdict })
      post({ type: 'verdicts', itemId: item.id, a, b, judge, ...made })
    },
  }
}

port.on('message', (raw: unknown) => {
  if (CancelEvaluation.safeParse(raw).success) controller.abort()
})

port.once('message', (raw: unknown) => {
  const parsed = StartEvaluation.safeParse(raw)
  if (!parsed.success) {
    post({ type: 'done', ok: false, error: 'malformed start message', rows: [] })
    return
  }
  const { job, recorded } = parsed.data
  runBatchEvaluation(job, reportingRecords(recorded), (progress) => post({ type: 'progress', ...progress }), controller.signal).then(
    (result) => post({ type: 'done', ok: true, setId: result.setId, judge: result.judge, rows: result.rows, work: result.work }),
    (error: unknown) =>
      controller.signal.aborted
        ? post({ type: 'done', ok: false, cancelled: true, error: 'cancelled', rows: [] })
        : post({ type: 'done', ok: false, error: error instanceof Error ? error.message : String(error), rows: [] }),
  )
})
