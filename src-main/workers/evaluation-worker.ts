/**
 * One evaluation on its own thread (generation and model judges run ONNX
 * sessions, which block their thread). It computes and reports: each answer
 * and verdict goes to the evaluation service as soon as it is made, and the
 * service stores it, so a stopped or killed evaluation resumes where it
 * stopped. The worker never opens the database.
 */
import { resolve } from 'node:path'
import type { EvaluationSide } from '../api/contract'
import { runBatchEvaluation, type Answer, type BatchRecords, type ContenderReport } from '../engine/judge/batch'
import { answerVariant, type ContenderAtExit } from '../engine/judge/contender'
import type { Verdict } from '../engine/judge/pandalm'
import { ToEvaluationWorker, type FromEvaluationWorker, type StartEvaluation } from './evaluation-protocol'
import { openWorkerPort } from './worker-port'

const port = openWorkerPort<FromEvaluationWorker>('evaluation worker')
const post = port.post
const controller = new AbortController()
let started = false

/** One answer's key: its item, folder and exit, and its weights and mode (an int4 or Exact answer is never taken for the fp32 one at that exit). */
const key = (itemId: string, c: ContenderAtExit) => JSON.stringify([itemId, resolve(c.modelPath), c.exit, answerVariant(c)])

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

/** A side's report as the done event carries it. */
function side(report: ContenderReport): EvaluationSide {
  return {
    label: report.label,
    precision: report.weights.precision,
    ...(report.weightsFallbackReason ? { weightsFallbackReason: report.weightsFallbackReason } : {}),
    mode: report.mode,
    ...(report.tau !== undefined ? { tau: report.tau } : {}),
    ...(report.acceptanceRate !== undefined ? { acceptanceRate: report.acceptanceRate } : {}),
    ...(report.meanExit !== undefined ? { meanExit: report.meanExit } : {}),
    generated: report.generated,
  }
}

function start({ job, recorded }: StartEvaluation): void {
  runBatchEvaluation(job, reportingRecords(recorded), (progress) => post({ type: 'progress', ...progress }), controller.signal).then(
    (result) =>
      post({
        type: 'done',
        ok: true,
        setId: result.setId,
        judge: result.judge,
        rows: result.rows,
        work: result.work,
        contenders: { a: side(result.contenders.a), b: side(result.contenders.b) },
      }),
    (error: unknown) =>
      controller.signal.aborted
        ? post({ type: 'done', ok: false, cancelled: true, error: 'cancelled', rows: [] })
        : post({ type: 'done', ok: false, error: error instanceof Error ? error.message : String(error), rows: [] }),
  )
}

port.listen(
  ToEvaluationWorker,
  (message) => {
    if (message.type === 'cancel') return controller.abort()
    // One evaluation per worker: the first start is the job.
    if (started) return port.log('evaluation worker: ignoring a second start message')
    started = true
    start(message)
  },
  {
    // A job that cannot start must still end, or the service would wait for it.
    onMalformed: (issue) => (started ? port.log(`evaluation worker: ignoring a malformed message (${issue})`) : post({ type: 'done', ok: false, error: `malformed start message (${issue})`, rows: [] })),
  },
)
