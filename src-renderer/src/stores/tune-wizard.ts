/**
 * The fine-tuning wizard's form: base model, dataset, method and
 * hyperparameters, and the run it started. It lives in a store so that
 * leaving the page and coming back keeps what was typed. Answers that
 * arrive after a newer question (a preview for an older sequence length)
 * are dropped.
 */
import { defineStore } from 'pinia'
import { computed, reactive, ref } from 'vue'
import type { DatasetPreview, ModelFolderShape, RunEstimate, TuneRequest } from '../../../src-main/api/contract'
import { errorMessage } from '../api/error-message'
import { useApi } from '../api/use-api'
import { adapterDefaults, type LoraTargetName } from '../../../src-main/api/tuning-defaults'
import { maxUploadBytes, trainingMethods, tuneDefaults, type Hyperparameter, type TrainingMethod } from '../tune/defaults'
import { exitSpec, presetExits } from '../tune/exits'
import { defaultOutDir, formatBytes } from '../tune/format'
import { attempt } from './attempt'

export type WizardStep = 1 | 2 | 3 | 4 | 5
export type Mode = TuneRequest['mode']

/** A file the person chose in the browser (the DOM's File, as far as an upload needs it). */
export interface ChosenFile {
  name: string
  size: number
  text(): Promise<string>
}

export const useTuneWizardStore = defineStore('tune-wizard', () => {
  const api = useApi()
  const step = ref<WizardStep>(1)

  // (1) base model
  const modelPath = ref('')
  const model = ref<ModelFolderShape | null>(null)
  const modelError = ref<string | null>(null)
  const modelLoading = ref(false)

  // (2) dataset
  const dataPath = ref('')
  const preview = ref<DatasetPreview | null>(null)
  const previewError = ref<string | null>(null)
  const previewLoading = ref(false)
  const previewLimit = ref(5)
  /** Train on the valid records and leave the bad ones out (onError 'skip'). */
  const skipBadRecords = ref(false)
  const uploading = ref(false)
  const uploadError = ref<string | null>(null)

  // (3) method
  const mode = ref<Mode>('soft')
  const exits = ref<number[]>([])
  const duration = reactive({ kind: 'epochs' as 'epochs' | 'steps', epochs: 1, maxSteps: 200 })
  const hyper = reactive<Record<Hyperparameter, number | string>>({
    lr: tuneDefaults.lr,
    batchSize: tuneDefaults.batchSize,
    gradAccum: tuneDefaults.gradAccum,
    seqLen: tuneDefaults.seqLen,
    warmup: tuneDefaults.warmup,
    schedule: tuneDefaults.schedule,
    weightDecay: tuneDefaults.weightDecay,
    maxGradNorm: tuneDefaults.maxGradNorm,
    valSplit: tuneDefaults.valSplit,
    evalEvery: tuneDefaults.evalEvery,
    checkpointEvery: tuneDefaults.checkpointEvery,
    seed: tuneDefaults.seed,
  })
  /** Every weight, or an adapter (with its rank, scale and layers) on the frozen base. */
  const methods = trainingMethods
  const method = ref<TrainingMethod>('full')
  const lora = reactive({
    rank: adapterDefaults.rank as number,
    alpha: adapterDefaults.alpha as number,
    targets: [...adapterDefaults.targets] as LoraTargetName[],
    trainNorm: adapterDefaults.trainNorm as boolean,
  })
  /** Activation recomputation: auto (when the step would not fit without it), on or off. */
  const recompute = ref<'auto' | 'on' | 'off'>('auto')
  /** Why the method step cannot start as it is; null when it can. */
  const methodProblem = computed(() => (method.value !== 'full' && lora.targets.length === 0 ? 'Choose at least one layer for the adapter.' : null))
  const outDir = ref('')
  const estimate = ref<RunEstimate | null>(null)
  /** The method the estimate shown was made for (the form may have moved on while a newer one is on its way). */
  const estimateMethod = ref<TrainingMethod>('full')
  const estimateError = ref<string | null>(null)
  const estimateLoading = ref(false)
  /** Why this plan cannot start: its predicted peak is above the machine's memory (with what would fit); null when it fits or is not yet estimated. */
  const memoryRefusal = computed(() => {
    const memory = estimate.value?.memory
    if (!memory || memory.fits) return null
    const gb = (bytes: number) => `${(bytes / 1024 ** 3).toFixed(1)} GiB`
    return `This plan needs about ${gb(memory.peakBytes)} at its peak, more than this machine's ${gb(memory.availableBytes)}. ${memory.proposal ?? ''}`.trim()
  })

  // (4, 5) the run
  const runId = ref<string | null>(null)
  const startError = ref<string | null>(null)
  const starting = ref(false)

  let modelAsk = 0
  let previewAsk = 0
  let estimateAsk = 0

  async function inspectModel(): Promise<void> {
    const ask = ++modelAsk
    modelLoading.value = true
    modelError.value = null
    try {
      const inspected = await api.call('models.inspect', { path: modelPath.value })
      if (ask !== modelAsk) return
      model.value = inspected
      // A model tuned before offers its own exits (models.inspect gives every layer otherwise).
      exits.value = inspected.exits.length > 0 ? inspected.exits : presetExits('all', inspected.numLayers)
      outDir.value = ''
      preview.value = null
    } catch (error) {
      if (ask !== modelAsk) return
      model.value = null
      modelError.value = errorMessage(error)
    } finally {
      if (ask === modelAsk) modelLoading.value = false
    }
  }

  async function loadPreview(): Promise<void> {
    if (!model.value || !dataPath.value) return
    const ask = ++previewAsk
    previewLoading.value = true
    previewError.value = null
    try {
      const answer = await api.call('datasets.preview', {
        modelPath: model.value.path,
        dataPath: dataPath.value,
        seqLen: Number(hyper.seqLen),
        limit: previewLimit.value,
      })
      if (ask !== previewAsk) return
      preview.value = answer
    } catch (error) {
      if (ask !== previewAsk) return
      preview.value = null
      previewError.value = errorMessage(error)
    } finally {
      if (ask === previewAsk) previewLoading.value = false
    }
  }

  /**
   * Browser mode: the server cannot read the browser's disk, so a chosen file
   * is stored in the data folder. Resolves to its path there, or null with
   * uploadError saying why (a large file is better given by path).
   */
  async function uploadDataset(file: ChosenFile): Promise<string | null> {
    uploadError.value = null
    if (file.size > maxUploadBytes) {
      uploadError.value = `${file.name} is ${formatBytes(file.size)}; uploads are limited to ${formatBytes(maxUploadBytes)}. Type the file's path instead: the server reads it directly.`
      return null
    }
    uploading.value = true
    let path: string | null = null
    await attempt(uploadError, async () => (path = (await api.call('datasets.upload', { name: file.name, content: await file.text() })).path))
    uploading.value = false
    return path
  }

  const datasetUsable = computed(() => !!preview.value?.stats && (preview.value.errorCount === 0 || skipBadRecords.value))

  function ensureOutDir(dataDir: string | undefined): void {
    if (outDir.value || !model.value || !dataDir) return
    outDir.value = defaultOutDir(dataDir, model.value.name, mode.value, new Date())
  }

  function request(): TuneRequest {
    const numbers = (key: Hyperparameter) => Number(hyper[key])
    return {
      modelPath: model.value?.path ?? modelPath.value,
      dataPath: preview.value?.dataPath ?? dataPath.value,
      outDir: outDir.value,
      mode: mode.value,
      exits: model.value ? exitSpec(mode.value === 'sft' ? [] : exits.value, model.value.numLayers) : 'all',
      ...(duration.kind === 'epochs' ? { epochs: Number(duration.epochs) } : { maxSteps: Number(duration.maxSteps) }),
      batchSize: numbers('batchSize'),
      gradAccum: numbers('gradAccum'),
      lr: numbers('lr'),
      weightDecay: numbers('weightDecay'),
      warmup: numbers('warmup'),
      schedule: hyper.schedule as 'cosine' | 'constant',
      maxGradNorm: numbers('maxGradNorm'),
      seqLen: numbers('seqLen'),
      seed: numbers('seed'),
      valSplit: numbers('valSplit'),
      onError: skipBadRecords.value ? 'skip' : 'stop',
      checkpointEvery: numbers('checkpointEvery'),
      evalEvery: numbers('evalEvery'),
      recompute: recompute.value,
      ...(method.value === 'full'
        ? {}
        : { adapter: method.value, loraRank: Number(lora.rank), loraAlpha: Number(lora.alpha), loraTargets: lora.targets.join(','), trainNorm: lora.trainNorm }),
    }
  }

  async function refreshEstimate(): Promise<void> {
    if (!model.value || !preview.value?.stats) return
    const ask = ++estimateAsk
    estimateLoading.value = true
    const asked = method.value
    try {
      const answer = await api.call('runs.estimate', { ...request(), outDir: outDir.value || '(not chosen yet)' })
      if (ask !== estimateAsk) return
      estimate.value = answer
      estimateMethod.value = asked
      estimateError.value = null
    } catch (error) {
      if (ask !== estimateAsk) return
      estimate.value = null
      estimateError.value = errorMessage(error)
    } finally {
      if (ask === estimateAsk) estimateLoading.value = false
    }
  }

  /** Starts the run; resolves to its id, or null with startError set. */
  async function start(startRun: (request: TuneRequest) => Promise<string>): Promise<string | null> {
    // A plan the memory planner says cannot fit is refused here, before hours of work are lost to the kernel's OOM killer.
    const refusal = methodProblem.value ?? memoryRefusal.value
    if (refusal) {
      startError.value = refusal
      return null
    }
    starting.value = true
    startError.value = null
    try {
      runId.value = await startRun(request())
      step.value = 4
      return runId.value
    } catch (error) {
      startError.value = errorMessage(error)
      return null
    } finally {
      starting.value = false
    }
  }

  /** Shows an existing run (a reload of /tune?run=…). */
  function showRun(id: string, completed: boolean): void {
    runId.value = id
    step.value = completed ? 5 : 4
  }

  /** A new run on the same model and data: back to the method, with a fresh output folder. */
  function again(): void {
    runId.value = null
    outDir.value = ''
    estimate.value = null
    step.value = model.value && preview.value ? 3 : 1
  }

  return {
    step, modelPath, model, modelError, modelLoading, dataPath, preview, previewError, previewLoading, previewLimit, skipBadRecords, uploading, uploadError,
    mode, exits, duration, hyper, methods, method, lora, recompute, methodProblem, outDir, estimate, estimateMethod, estimateError, estimateLoading, memoryRefusal, runId, startError, starting, datasetUsable,
    inspectModel, loadPreview, uploadDataset, ensureOutDir, request, refreshEstimate, start, showRun, again,
  }
})
