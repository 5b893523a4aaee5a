/**
 * The compare view's generation: one prompt answered by two contenders (any
 * model folder at any exit) in the compare worker, tokens streamed as events.
 * This is separate from the engine service, which holds the one model the
 * chat uses. Each finished answer is stored as a generation of a new item of
 * the compare set, so the person's vote (evaluations.vote) refers to exactly
 * what was shown.
 */
import { randomUUID } from 'node:crypto'
import { resolve } from 'node:path'
import type { z } from 'zod'
import type { CompareDone, CompareRequest, CompareSide, ExecutionProviderPreference } from '../api/contract'
import { ApiError } from '../api/errors'
import { answerVariant, contenderLabel, type Contender, type ContenderAtExit } from '../engine/judge/contender'
import type { EvalItem, Store } from '../store'
import { FromCompareWorker, type ToCompareWorker } from '../workers/compare-protocol'
import { appendCompareItem } from './evaluations/sets'
import type { Decoding } from './evaluations/store-records'
import type { EventBus } from './events'
import { inspectModel } from './model-inspect'
import { storedContender } from './model-registry'
import type { WorkerChannel, Workers } from './worker-host'

export interface CompareServiceDeps {
  store: Store
  bus: EventBus
  workers: Workers<'compare'>
  /** Where compiled graphs are kept between loads. */
  cacheDir?: string
  provider: () => ExecutionProviderPreference
  log: (message: string) => void
}

interface ActiveCompare {
  prompt: string
  decoding: Decoding
  contenders: Record<CompareSide, ContenderAtExit>
  /** Sides still running. */
  pending: Set<CompareSide>
  /** Made when the first side finishes, so a run cancelled before any answer leaves nothing behind. */
  item: EvalItem | undefined
}

export class CompareService {
  private readonly store: Store
  private readonly bus: EventBus
  private readonly worker: WorkerChannel<ToCompareWorker>
  private readonly active = new Map<string, ActiveCompare>()

  constructor(private readonly deps: CompareServiceDeps) {
    this.store = deps.store
    this.bus = deps.bus
    this.worker = deps.workers.channel<ToCompareWorker, FromCompareWorker>('compare', {
      label: 'The compare worker',
      unavailable: 'The compare view is not available in this process.',
      receives: FromCompareWorker,
      onMessage: (message) => this.receive(message),
      onCrash: (error) => this.crashed(error),
    })
  }

  generate(request: z.output<typeof CompareRequest>): { compareId: string } {
    if (!this.deps.workers.available('compare')) throw new ApiError('internal', 'The compare view is not available in this process.')
    // Read both folders now: a wrong path or exit is the request's error, reported before anything runs.
    const contenders = {
      a: this.contender(request.a, 'a'),
      b: this.contender(request.b, 'b'),
    }
    const { a, b } = contenders
    if (a.modelPath === b.modelPath && a.exit === b.exit && JSON.stringify(answerVariant(a)) === JSON.stringify(answerVariant(b))) {
      throw new ApiError('invalid_params', `A and B are the same contender (${contenderLabel(a)}): choose another exit, mode, precision or model.`, [
        { path: 'b.exit', message: 'same contender as a' },
      ])
    }
    const compareId = randomUUID()
    this.active.set(compareId, {
      prompt: request.prompt,
      decoding: { maxNewTokens: request.maxNewTokens, greedy: true },
      contenders,
      pending: new Set(['a', 'b']),
      item: undefined,
    })
    for (const side of ['a', 'b'] as const) {
      const message: ToCompareWorker = {
        type: 'generate',
        compareId,
        side,
        ...contenders[side],
        prompt: request.prompt,
        maxNewTokens: request.maxNewTokens,
        provider: this.deps.provider(),
        ...(this.deps.cacheDir ? { cacheDir: this.deps.cacheDir } : {}),
      }
      this.worker.send(message)
    }
    return { compareId }
  }

  cancel(compareId: string): void {
    if (!this.active.has(compareId)) throw new ApiError('not_found', `No running comparison ${compareId}.`)
    // No worker means it crashed, and the run has already been reported as failed.
    if (this.worker.started) this.worker.send({ type: 'cancel', compareId })
  }

  private contender(c: Contender, field: 'a' | 'b'): ContenderAtExit {
    if (c.mode && c.exit !== undefined) {
      const message = `give no exit with ${c.mode.kind === 'exact' ? 'Exact' : 'Auto'} mode (it picks the depth per token)`
      throw new ApiError('invalid_params', `${field}.exit: ${message}.`, [{ path: `${field}.exit`, message }])
    }
    const model = inspectModel(c.modelPath, `${field}.modelPath`)
    const exit = c.exit ?? model.numLayers
    if (exit > model.numLayers) {
      throw new ApiError('invalid_params', `${field}.exit: exit ${exit} is outside 1..${model.numLayers} (${model.name}'s layers).`, [
        { path: `${field}.exit`, message: `at most ${model.numLayers}` },
      ])
    }
    // fp32 is the default and is left out, so an fp32 answer is recorded exactly as before precisions existed.
    return {
      modelPath: resolve(c.modelPath),
      exit,
      ...(c.precision && c.precision !== 'fp32' ? { precision: c.precision } : {}),
      ...(c.mode ? { mode: c.mode } : {}),
    }
  }

  private receive(message: FromCompareWorker): void {
    switch (message.type) {
      case 'status': {
        const { type: _, ...status } = message
        this.bus.emit('compare.status', status)
        break
      }
      case 'token': {
        const { type: _, ...token } = message
        this.bus.emit('compare.token', token)
        break
      }
      case 'done': {
        const { type: _, stats, ...done } = message
        this.finished(done, stats)
        break
      }
    }
  }

  /** Stores a complete answer (cut at the length limit counts; cancelled or failed ones do not) and reports it. */
  private finished(done: Omit<CompareDone, 'generationId' | 'itemId'>, stats: Extract<FromCompareWorker, { type: 'done' }>['stats']): void {
    const run = this.active.get(done.compareId)
    let stored: { generationId: string; itemId: string } | undefined
    let error = done.error
    if (run && done.exit !== null && (done.finishReason === 'eos' || done.finishReason === 'stop' || done.finishReason === 'length')) {
      try {
        run.item ??= appendCompareItem(this.store, run.prompt)
        const contender = run.contenders[done.side]
        const generation = this.store.evals.recordGeneration({
          evalItemId: run.item.id,
          ...storedContender(this.store, { modelPath: contender.modelPath, exit: done.exit }),
          // The precision that answered and the mode are part of how it was decoded: int4, Exact and fp32 answers
          // of one exit are three records, under the keys batch evaluations and `sorted eval` use (answerVariant).
          decoding: { ...run.decoding, ...answerVariant({ modelPath: contender.modelPath, exit: done.exit, precision: done.precision, mode: done.mode }) },
          output: done.text.trim(),
          tokensPerSecond: done.tokensPerSecond > 0 ? done.tokensPerSecond : null,
          stats: stats ? { ...stats } : null,
        })
        stored = { generationId: generation.id, itemId: run.item.id }
      } catch (caught) {
        this.deps.log(`compare: could not store the answer: ${caught instanceof Error ? caught.message : String(caught)}`)
        error = `the answer could not be stored: ${caught instanceof Error ? caught.message : String(caught)}`
      }
    }
    if (run) {
      run.pending.delete(done.side)
      if (run.pending.size === 0) this.active.delete(done.compareId)
    }
    this.bus.emit('compare.done', { ...done, ...(stored ?? {}), ...(error ? { error } : {}) })
  }

  private crashed(error: string): void {
    for (const [compareId, run] of this.active) {
      for (const side of run.pending) {
        this.bus.emit('compare.done', { compareId, side, finishReason: 'error', text: '', exit: null, tokensPerSecond: 0, error })
      }
    }
    this.active.clear()
  }

  close(): Promise<void> {
    return this.worker.close()
  }
}
