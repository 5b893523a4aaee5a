/**
 * Human votes on a batch's stored answers: one pair of contenders, item by
 * item. The two answers are shown blind (which contender wrote which is
 * revealed after the vote), and every other item shows B first, so the
 * person's own position bias cancels out the way a judge's does when it is
 * asked in both orders.
 */
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { PairItem, PairResult, ResultContender, Verdict } from '../../../src-main/api/contract'
import { useApi } from '../api/use-api'
import { attempt } from './attempt'

export interface ReviewPair {
  key: string
  a: PairResult['a']
  b: PairResult['b']
  maxNewTokens: number | null
}

/** A contender's identity: model, exit, weights and mode (an int4 or Exact answer at one exit is another contender's). */
const sideKey = (c: ResultContender) => [c.modelId, c.exit, c.precision, c.blockSize ?? null, c.mode]

/** What evaluations.pairOutputs takes for a side: fp32 and a fixed exit are the defaults and are left out. */
function pairSide(c: ResultContender) {
  return {
    modelId: c.modelId,
    exit: c.exit,
    ...(c.precision !== 'fp32' ? { precision: c.precision } : {}),
    ...(c.blockSize !== undefined ? { blockSize: c.blockSize } : {}),
    ...(c.mode ? { mode: c.mode } : {}),
  }
}

/** Every distinct pair of contenders (and answer length) any judge compared on the set. */
export function reviewPairs(pairs: readonly PairResult[]): ReviewPair[] {
  const seen = new Map<string, ReviewPair>()
  for (const p of pairs) {
    const key = JSON.stringify([sideKey(p.a), sideKey(p.b), p.maxNewTokens])
    const reverse = JSON.stringify([sideKey(p.b), sideKey(p.a), p.maxNewTokens])
    if (!seen.has(key) && !seen.has(reverse)) seen.set(key, { key, a: p.a, b: p.b, maxNewTokens: p.maxNewTokens })
  }
  return [...seen.values()]
}

/** Odd items show B first. */
export function shownFirst(item: PairItem): 'a' | 'b' {
  return item.idx % 2 === 0 ? 'a' : 'b'
}

export const usePairReviewStore = defineStore('pair-review', () => {
  const api = useApi()
  const setId = ref<string | null>(null)
  const pair = ref<ReviewPair | null>(null)
  const items = ref<PairItem[]>([])
  const index = ref(0)
  const loading = ref(false)
  const voting = ref(false)
  const error = ref<string | null>(null)

  const current = computed(() => items.value[index.value] ?? null)
  const voted = computed(() => items.value.filter((i) => i.vote !== null).length)

  async function open(nextSetId: string, nextPair: ReviewPair): Promise<void> {
    setId.value = nextSetId
    pair.value = nextPair
    items.value = []
    index.value = 0
    loading.value = true
    error.value = null
    await attempt(error, async () => {
      const loaded = await api.call('evaluations.pairOutputs', {
        setId: nextSetId,
        a: pairSide(nextPair.a),
        b: pairSide(nextPair.b),
        maxNewTokens: nextPair.maxNewTokens,
      })
      if (pair.value?.key !== nextPair.key || setId.value !== nextSetId) return
      items.value = loaded.items
      const firstOpen = loaded.items.findIndex((i) => i.vote === null)
      index.value = firstOpen === -1 ? 0 : firstOpen
    })
    loading.value = false
  }

  function close(): void {
    pair.value = null
    items.value = []
  }

  function go(step: number): void {
    index.value = Math.min(Math.max(index.value + step, 0), Math.max(items.value.length - 1, 0))
  }

  /** A verdict on the current item in the order shown; moves on to the next item not voted yet. Resolves to whether it was stored. */
  async function vote(verdict: Verdict): Promise<boolean> {
    const item = current.value
    if (!item) return false
    const first = shownFirst(item) === 'a' ? item.a : item.b
    const second = shownFirst(item) === 'a' ? item.b : item.a
    voting.value = true
    error.value = null
    const stored = await attempt(error, async () => {
      const result = await api.call('evaluations.vote', { firstGenerationId: first.generationId, secondGenerationId: second.generationId, verdict })
      items.value = items.value.map((i) => (i.itemId === item.itemId ? { ...i, vote: result.vote } : i))
      const next = items.value.findIndex((i, k) => k > index.value && i.vote === null)
      if (next !== -1) index.value = next
    })
    voting.value = false
    return stored
  }

  return { setId, pair, items, index, current, voted, loading, voting, error, open, close, go, vote }
})
