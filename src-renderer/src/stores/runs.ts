/**
 * Fine-tuning runs as the backend reports them: the list for the Runs page,
 * and, for each run a page shows, its curves, checkpoints and live progress.
 *
 * Events keep everything current without polling. Curves grow point by
 * point (a CurveSet, outside Vue's deep reactivity: thousands of points
 * would make every push cost a proxy walk); `version` ticks on each change
 * so that what draws them knows to look. A run that changes status is read
 * again whole, so what a page shows after an event storm is what is stored.
 */
import { defineStore } from 'pinia'
import { markRaw, onScopeDispose, reactive, ref } from 'vue'
import type { ExportedJob, RunCheckpoint, RunDetails, RunSummary, TuneRequest } from '../../../src-main/api/contract'
import { errorMessage } from '../api/error-message'
import { useApi } from '../api/use-api'
import { attempt } from './attempt'
import { createCurveSet, type CurveSet } from '../tune/curves'

export interface LiveProgress {
  step: number
  totalSteps: number
  tokensPerSecond: number
  etaSeconds: number
  lr: number
}

export interface RunView {
  run: RunSummary
  checkpoints: RunCheckpoint[]
  outputPath: string | null
  curves: CurveSet
  /** Ticks whenever the curves change. */
  version: number
  /** From the latest run.progress event; null until one arrives (after a reload, say). */
  live: LiveProgress | null
  error: string | null
}

export const useRunsStore = defineStore('runs', () => {
  const api = useApi()
  const runs = ref<RunSummary[]>([])
  const listError = ref<string | null>(null)
  const listLoaded = ref(false)
  /** Why the run a page asked for could not be read. */
  const openError = ref<string | null>(null)
  /** Why cancelling or resuming a run failed (shown by its progress). */
  const actionError = ref<string | null>(null)
  /** Why the last "Export as a multi-GPU job" was refused. */
  const exportError = ref<string | null>(null)
  /** Why deleting a run failed (shown at its Delete button). */
  const removeError = ref<string | null>(null)
  const views = reactive(new Map<string, RunView>())

  function updateSummary(runId: string, patch: Partial<RunSummary>): void {
    const row = runs.value.find((r) => r.id === runId)
    if (row) Object.assign(row, patch)
    const view = views.get(runId)
    if (view) Object.assign(view.run, patch)
  }

  async function load(): Promise<void> {
    await attempt(listError, async () => (runs.value = (await api.call('runs.list', {})).runs))
    listLoaded.value = true
  }

  function apply(view: RunView, details: RunDetails): void {
    view.run = details.run
    view.checkpoints = details.checkpoints
    view.outputPath = details.outputPath
    view.curves.clear()
    for (const metric of details.metrics) view.curves.add(metric)
    view.version++
    view.error = null
  }

  /** Reads a run (again) from the backend; the view is created on first use. A failure is kept on the view, if there is one, and thrown. */
  async function read(runId: string): Promise<RunView> {
    try {
      const details = await api.call('runs.get', { runId })
      let view = views.get(runId)
      if (!view) {
        const created: RunView = { run: details.run, checkpoints: [], outputPath: null, curves: markRaw(createCurveSet()), version: 0, live: null, error: null }
        views.set(runId, created)
        view = views.get(runId)!
      }
      apply(view, details)
      const row = runs.value.find((r) => r.id === runId)
      if (row) Object.assign(row, details.run)
      return view
    } catch (error) {
      const view = views.get(runId)
      if (view) view.error = errorMessage(error)
      throw error
    }
  }

  /** The run a page shows (from its address); resolves to its view, or undefined with openError saying why not. */
  async function open(runId: string): Promise<RunView | undefined> {
    openError.value = null
    let view: RunView | undefined
    await attempt(openError, async () => (view = await read(runId)))
    return view
  }

  /** Starts a run and opens it; rejects with the backend's reason (the wizard shows it at its Start button). */
  async function start(request: TuneRequest): Promise<string> {
    const { runId } = await api.call('runs.start', request)
    await Promise.all([read(runId), load()])
    return runId
  }

  /** Cancels at the end of the current step; resolves to whether the backend took it, with actionError saying why not. */
  async function cancel(runId: string): Promise<boolean> {
    return attempt(actionError, () => api.call('runs.cancel', { runId }))
  }

  async function resume(runId: string): Promise<boolean> {
    return attempt(actionError, async () => {
      await api.call('runs.resume', { runId })
      // The status event follows; the live figures of the last session no longer apply.
      const view = views.get(runId)
      if (view) view.live = null
    })
  }

  /** Deletes the run (and its output folder if asked); resolves to the paths removed, or null with removeError saying why not. */
  async function remove(runId: string, deleteOutput: boolean): Promise<string[] | null> {
    let removed: string[] | null = null
    await attempt(removeError, async () => {
      removed = (await api.call('runs.remove', { runId, deleteOutput })).removedPaths
      views.delete(runId)
      runs.value = runs.value.filter((r) => r.id !== runId)
    })
    return removed
  }

  const stops = [
    api.on('run.progress', (p) => {
      updateSummary(p.runId, { stepsDone: p.step, totalSteps: p.totalSteps, status: 'running' })
      const view = views.get(p.runId)
      if (!view) return
      view.live = { step: p.step, totalSteps: p.totalSteps, tokensPerSecond: p.tokensPerSecond, etaSeconds: p.etaSeconds, lr: p.lr }
      for (const [exit, loss] of Object.entries(p.loss)) view.curves.add({ step: p.step, exit: Number(exit), split: 'train', loss })
      view.version++
    }),
    api.on('run.validation', (v) => {
      const view = views.get(v.runId)
      if (!view) return
      for (const [exit, loss] of Object.entries(v.loss)) view.curves.add({ step: v.step, exit: Number(exit), split: 'validation', loss })
      view.version++
    }),
    api.on('run.checkpoint', (c) => {
      const view = views.get(c.runId)
      if (!view) return
      const all = [...view.checkpoints.filter((k) => k.step !== c.step), { step: c.step, path: c.path, createdAt: Date.now(), onDisk: true }].sort((a, b) => a.step - b.step)
      // Writing one removes all but the latest two (engine/train/checkpoint.ts); the next read of the run confirms it.
      view.checkpoints = all.map((k, i) => (i < all.length - 2 ? { ...k, onDisk: false } : k))
      updateSummary(c.runId, { lastStep: Math.max(view.run.lastStep, c.step) })
    }),
    api.on('run.status', (s) => {
      updateSummary(s.runId, { status: s.status, ...(s.error !== undefined ? { error: s.error } : {}) })
      if (!runs.value.some((r) => r.id === s.runId)) void load()
      if (views.has(s.runId) && s.status !== 'running') void read(s.runId).catch(() => {})
    }),
  ]
  onScopeDispose(() => stops.forEach((stop) => stop()))

  /** After a lost connection: everything may have moved on. */
  async function reload(): Promise<void> {
    // A run that cannot be read again keeps the reason on its view.
    await Promise.all([load(), ...[...views.keys()].map((id) => read(id).catch(() => {}))])
  }

  /** Writes a run as a PyTorch job folder (runs.exportJob); null, with exportError saying why, when refused. */
  async function exportJob(runId: string, jobDir: string): Promise<ExportedJob | null> {
    let job: ExportedJob | null = null
    await attempt(exportError, async () => (job = await api.call('runs.exportJob', { runId, jobDir })))
    return job
  }

  return { runs, listError, listLoaded, openError, actionError, removeError, exportError, views, load, open, start, cancel, resume, remove, reload, exportJob }
})
