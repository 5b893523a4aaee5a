/**
 * The batch evaluation page: evaluation sets, a running evaluation's
 * progress (it keeps running while the page is closed, and is found again
 * with evaluations.running), and a set's results, always read back from the
 * database so what is shown is what is stored.
 */
import { defineStore } from 'pinia'
import { computed, onScopeDispose, ref } from 'vue'
import type { EvalSetSummary, EvaluationDone, EvaluationProgress, EvaluationResults, ReadyMadeSet } from '../../../src-main/api/contract'
import { errorMessage } from '../api/error-message'
import { useApi } from '../api/use-api'
import { contenderRequest, emptyContender, type ContenderChoice } from '../components/compare/contender'

export type JudgeKind = 'reference' | 'pandalm'

export const useEvaluationsStore = defineStore('evaluations', () => {
  const api = useApi()
  const sets = ref<EvalSetSummary[]>([])
  const setsError = ref<string | null>(null)
  const selectedSetId = ref<string | null>(null)
  const importing = ref(false)
  const importError = ref<string | null>(null)
  /** The sets shipped with the app, offered for import. */
  const readyMade = ref<ReadyMadeSet[]>([])

  const a = ref<ContenderChoice>(emptyContender())
  const b = ref<ContenderChoice>(emptyContender())
  const judgeKind = ref<JudgeKind>('reference')
  const pandalmPath = ref('')
  const maxNewTokens = ref(64)

  const evaluationId = ref<string | null>(null)
  const progress = ref<EvaluationProgress | null>(null)
  const lastDone = ref<EvaluationDone | null>(null)
  const startError = ref<string | null>(null)

  const results = ref<EvaluationResults | null>(null)
  const resultsError = ref<string | null>(null)
  const loadingResults = ref(false)

  const selectedSet = computed(() => sets.value.find((s) => s.id === selectedSetId.value) ?? null)
  const running = computed(() => evaluationId.value !== null)
  const judge = computed(() => (judgeKind.value === 'reference' ? 'reference' : `pandalm:${pandalmPath.value.trim()}`))
  /** Why Start is unavailable, in words; null when it can start. */
  const blocker = computed(() => {
    if (running.value) return 'An evaluation is running.'
    if (!selectedSet.value) return 'Choose or import an evaluation set.'
    if (selectedSet.value.itemCount === 0) return 'The set has no items.'
    if (!a.value.model || a.value.exit === null) return 'Choose contender A.'
    if (!b.value.model || typeof b.value.exit !== 'number') return 'Choose contender B.'
    if (judgeKind.value === 'reference' && selectedSet.value.withReferences < selectedSet.value.itemCount) {
      return `The reference judge needs a reference answer for every item; ${selectedSet.value.itemCount - selectedSet.value.withReferences} of ${selectedSet.value.itemCount} have none.`
    }
    if (judgeKind.value === 'pandalm' && !pandalmPath.value.trim()) return 'Give the PandaLM judge model folder.'
    return null
  })

  onScopeDispose(
    api.on('evaluation.progress', (p) => {
      if (p.evaluationId !== evaluationId.value) return
      progress.value = p
    }),
  )
  onScopeDispose(
    api.on('evaluation.done', (done) => {
      if (done.evaluationId !== evaluationId.value) return
      evaluationId.value = null
      progress.value = null
      lastDone.value = done
      const setId = done.setId ?? selectedSetId.value
      void loadSets()
      if (setId && setId === selectedSetId.value) void loadResults()
    }),
  )

  async function loadSets(): Promise<void> {
    try {
      sets.value = (await api.call('evaluations.sets', {})).sets
      setsError.value = null
      if (selectedSetId.value && !sets.value.some((s) => s.id === selectedSetId.value)) selectedSetId.value = null
    } catch (caught) {
      setsError.value = errorMessage(caught)
    }
  }

  /** Finds an evaluation that is still running (started before this page was opened). */
  async function loadRunning(): Promise<void> {
    try {
      const { evaluations } = await api.call('evaluations.running', {})
      const current = evaluations[0]
      if (!current || evaluationId.value) return
      evaluationId.value = current.evaluationId
      progress.value = current.progress ?? null
      if (current.setId) selectedSetId.value = current.setId
    } catch (caught) {
      startError.value = errorMessage(caught)
    }
  }

  async function loadReadyMade(): Promise<void> {
    try {
      readyMade.value = (await api.call('evaluations.readyMadeSets', {})).sets
    } catch (caught) {
      setsError.value = errorMessage(caught)
    }
  }

  /** Imports a file; resolves to whether it was imported (then it is the selected set). */
  function importSet(path: string): Promise<boolean> {
    return importAndSelect(() => api.call('evaluations.importSet', { path: path.trim() }))
  }

  /** Imports a shipped set (once; again selects the stored one). */
  function importReadyMade(id: string): Promise<boolean> {
    return importAndSelect(() => api.call('evaluations.importReadyMadeSet', { id }))
  }

  async function importAndSelect(run: () => Promise<{ set: EvalSetSummary }>): Promise<boolean> {
    importing.value = true
    importError.value = null
    try {
      const { set } = await run()
      await loadSets()
      await selectSet(set.id)
      return true
    } catch (caught) {
      importError.value = errorMessage(caught)
      return false
    } finally {
      importing.value = false
    }
  }

  /** Deletes the set with its answers and verdicts; resolves to whether it was deleted. */
  async function removeSet(setId: string): Promise<boolean> {
    try {
      await api.call('evaluations.removeSet', { setId })
      if (selectedSetId.value === setId) await selectSet(null)
      await loadSets()
      return true
    } catch (caught) {
      setsError.value = errorMessage(caught)
      return false
    }
  }

  async function selectSet(setId: string | null): Promise<void> {
    selectedSetId.value = setId
    results.value = null
    resultsError.value = null
    if (setId) await loadResults()
  }

  async function loadResults(): Promise<void> {
    const setId = selectedSetId.value
    if (!setId) return
    loadingResults.value = true
    try {
      const loaded = await api.call('evaluations.results', { setId })
      if (selectedSetId.value === setId) {
        results.value = loaded
        resultsError.value = null
      }
    } catch (caught) {
      if (selectedSetId.value === setId) resultsError.value = errorMessage(caught)
    } finally {
      loadingResults.value = false
    }
  }

  async function start(): Promise<void> {
    if (blocker.value) return
    startError.value = null
    lastDone.value = null
    try {
      const started = await api.call('evaluations.start', {
        setId: selectedSetId.value!,
        a: contenderRequest(a.value),
        b: contenderRequest(b.value),
        judge: judge.value,
        matrix: a.value.exit === 'every' && !a.value.mode,
        maxNewTokens: maxNewTokens.value,
      })
      evaluationId.value = started.evaluationId
      progress.value = null
    } catch (caught) {
      startError.value = errorMessage(caught)
    }
  }

  async function cancel(): Promise<void> {
    if (!evaluationId.value) return
    try {
      await api.call('evaluations.cancel', { evaluationId: evaluationId.value })
    } catch (caught) {
      startError.value = errorMessage(caught)
    }
  }

  return {
    sets,
    setsError,
    selectedSetId,
    selectedSet,
    importing,
    importError,
    readyMade,
    a,
    b,
    judgeKind,
    pandalmPath,
    maxNewTokens,
    evaluationId,
    progress,
    lastDone,
    startError,
    running,
    blocker,
    results,
    resultsError,
    loadingResults,
    loadSets,
    loadRunning,
    loadReadyMade,
    importSet,
    importReadyMade,
    removeSet,
    selectSet,
    loadResults,
    start,
    cancel,
  }
})
