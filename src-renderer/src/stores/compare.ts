/**
 * The compare view: one prompt streamed from two contenders side by side,
 * then the person's vote on the pair. The answers are stored by the backend
 * as generations, so the vote (and the list of past votes) reloads from the
 * database. The comparison's events are followed by its id (the transport
 * replays those that came before the id did). Tokens reach the panes through
 * a FrameQueue (once per frame, not once per token); a status or done event
 * first delivers what is waiting.
 */
import { defineStore } from 'pinia'
import { computed, onScopeDispose, reactive, ref } from 'vue'
import type { CompareDone, CompareSide, ContenderMode, EventPayload, Verdict, Vote, WeightPrecision } from '../../../src-main/api/contract'
import { errorMessage } from '../api/error-message'
import { useApi } from '../api/use-api'
import { attempt } from './attempt'
import { FrameQueue } from '../streaming/frame-queue'
import { contenderRequest, emptyContender, type ContenderChoice } from '../components/compare/contender'

export type PaneState = 'idle' | 'queued' | 'loading' | 'generating' | 'done' | 'cancelled' | 'error'

export interface Pane {
  state: PaneState
  text: string
  tokens: number
  /** Loading progress 0..1 while the model opens. */
  loadProgress: number | null
  tokensPerSecond: number | null
  exit: number | null
  /** The weight precision that answered (fp32 where a quantized load fell back). */
  precision: WeightPrecision | null
  /** The decoding mode that answered; null: at `exit`. */
  mode: ContenderMode | null
  /** Exact: accepted ÷ drafted tokens; Auto: the mean exit per token (null where not measured). */
  acceptanceRate: number | null
  meanExit: number | null
  finishReason: CompareDone['finishReason'] | null
  generationId: string | null
  error: string | null
}

function emptyPane(): Pane {
  return { state: 'idle', text: '', tokens: 0, loadProgress: null, tokensPerSecond: null, exit: null, precision: null, mode: null, acceptanceRate: null, meanExit: null, finishReason: null, generationId: null, error: null }
}

const sides: CompareSide[] = ['a', 'b']

export const useCompareStore = defineStore('compare', () => {
  const api = useApi()
  const prompt = ref('')
  const maxNewTokens = ref(128)
  const contenders = reactive<Record<CompareSide, ContenderChoice>>({ a: emptyContender(), b: emptyContender() })
  const panes = reactive<Record<CompareSide, Pane>>({ a: emptyPane(), b: emptyPane() })
  /** The prompt the panes answer (the field may have changed since). */
  const shownPrompt = ref('')
  const compareId = ref<string | null>(null)
  const starting = ref(false)
  const error = ref<string | null>(null)
  const vote = ref<Vote | null>(null)
  const voting = ref(false)
  const voteError = ref<string | null>(null)
  const votes = ref<Vote[]>([])
  const votesError = ref<string | null>(null)

  const running = computed(() => starting.value || sides.some((s) => ['queued', 'loading', 'generating'].includes(panes[s].state)))
  const canRun = computed(
    () => !running.value && prompt.value.trim() !== '' && sides.every((s) => contenders[s].model !== null && typeof contenders[s].exit === 'number'),
  )
  const canVote = computed(() => !running.value && panes.a.generationId !== null && panes.b.generationId !== null)

  /** Stops following the shown comparison's events. */
  let unfollow = () => {}
  onScopeDispose(() => unfollow())

  const arriving = new FrameQueue<{ side: CompareSide; text: string }>((tokens) => {
    for (const t of tokens) {
      const pane = panes[t.side]
      pane.state = 'generating'
      pane.text += t.text
      pane.tokens++
    }
  })

  function showStatus(p: EventPayload<'compare.status'>): void {
    arriving.flush()
    panes[p.side].state = p.state
    panes[p.side].loadProgress = p.state === 'loading' ? (p.progress ?? 0) : null
  }

  function showDone(p: CompareDone): void {
    arriving.flush()
    const pane = panes[p.side]
    pane.text = p.text
    pane.exit = p.exit
    pane.precision = p.precision ?? null
    pane.mode = p.mode ?? null
    pane.acceptanceRate = p.acceptanceRate ?? null
    pane.meanExit = p.meanExit ?? null
    pane.finishReason = p.finishReason
    pane.tokensPerSecond = p.tokensPerSecond
    pane.generationId = p.generationId ?? null
    pane.error = p.error ?? null
    pane.loadProgress = null
    pane.state = p.finishReason === 'cancelled' ? 'cancelled' : p.finishReason === 'error' || p.error ? 'error' : 'done'
  }

  function follow(id: string): void {
    unfollow = api.follow(id, {
      'compare.status': showStatus,
      'compare.token': (p) => arriving.push({ side: p.side, text: p.text }),
      'compare.done': showDone,
    })
  }

  async function run(): Promise<void> {
    if (!canRun.value) return
    error.value = null
    vote.value = null
    voteError.value = null
    // The panes now belong to the comparison about to start: the last one's stragglers stay out.
    unfollow()
    unfollow = () => {}
    arriving.clear()
    for (const s of sides) Object.assign(panes[s], emptyPane(), { state: 'queued' })
    shownPrompt.value = prompt.value.trim()
    compareId.value = null
    starting.value = true
    try {
      const started = await api.call('compare.generate', {
        prompt: shownPrompt.value,
        a: contenderRequest(contenders.a),
        b: contenderRequest(contenders.b),
        maxNewTokens: maxNewTokens.value,
      })
      compareId.value = started.compareId
      follow(started.compareId)
    } catch (caught) {
      error.value = errorMessage(caught)
      for (const s of sides) Object.assign(panes[s], emptyPane())
    } finally {
      starting.value = false
    }
  }

  async function cancel(): Promise<void> {
    if (!compareId.value) return
    try {
      await api.call('compare.cancel', { compareId: compareId.value })
    } catch (caught) {
      // Finished in the meantime: nothing to cancel.
      if (running.value) error.value = errorMessage(caught)
    }
  }

  /** The person's verdict on the two answers as shown: '1' the left (first) one, '2' the right one. */
  async function castVote(verdict: Verdict): Promise<void> {
    if (!canVote.value) return
    voting.value = true
    voteError.value = null
    await attempt(voteError, async () => {
      const result = await api.call('evaluations.vote', {
        firstGenerationId: panes.a.generationId!,
        secondGenerationId: panes.b.generationId!,
        verdict,
      })
      vote.value = result.vote
      votes.value = [result.vote, ...votes.value.filter((v) => v.comparisonId !== result.vote.comparisonId)]
    })
    voting.value = false
  }

  async function loadVotes(): Promise<void> {
    await attempt(votesError, async () => (votes.value = (await api.call('evaluations.votes', { limit: 50 })).votes))
  }

  return {
    prompt,
    maxNewTokens,
    contenders,
    panes,
    shownPrompt,
    compareId,
    error,
    vote,
    voting,
    voteError,
    votes,
    votesError,
    running,
    canRun,
    canVote,
    run,
    cancel,
    castVote,
    loadVotes,
  }
})
