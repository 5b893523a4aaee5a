/**
 * The draft-exit calibration: the choice rule on injected measurements, the
 * measuring loop on a stand-in session whose timings are given (fastest try
 * kept, acceptance summed, progress, cancellation), and one run on a real
 * tiny model, whose Exact answers must equal full depth's at every exit.
 * No assertion depends on how fast this machine is.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import {
  calibrateDraftExit,
  chooseDraftExit,
  DraftCalibrationError,
  type CalibrationProgress,
  type CalibrationSession,
} from '../../../../src-main/engine/generate/draft-calibration'
import { ModelSession, type SessionGenerateOptions } from '../../../../src-main/engine/generate/model-session'
import { writeTinyTextModel } from '../../../fixtures/fixtures'

const root = mkdtempSync(join(tmpdir(), 'draft-calibration-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

describe('chooseDraftExit', () => {
  it('chooses the fastest exit, and says whether it beats full depth', () => {
    const measured = [
      { exit: 1, tokensPerS: 300, acceptanceRate: 0.4 },
      { exit: 2, tokensPerS: 450, acceptanceRate: 0.5 },
      { exit: 3, tokensPerS: 420, acceptanceRate: 0.9 },
    ]
    expect(chooseDraftExit(400, measured)).toEqual({ exit: 2, beatsFullDepth: true })
    // Nothing beats full depth: still the fastest, flagged.
    expect(chooseDraftExit(500, measured)).toEqual({ exit: 2, beatsFullDepth: false })
    expect(chooseDraftExit(450, measured)).toEqual({ exit: 2, beatsFullDepth: false })
  })

  it('breaks a tie in speed by acceptance, then by the shallower exit', () => {
    expect(chooseDraftExit(100, [{ exit: 1, tokensPerS: 200, acceptanceRate: 0.3 }, { exit: 3, tokensPerS: 200, acceptanceRate: 0.6 }]).exit).toBe(3)
    expect(chooseDraftExit(100, [{ exit: 3, tokensPerS: 200, acceptanceRate: 0.6 }, { exit: 2, tokensPerS: 200, acceptanceRate: 0.6 }]).exit).toBe(2)
  })

  it('refuses an empty list', () => {
    expect(() => chooseDraftExit(100, [])).toThrow(DraftCalibrationError)
  })
})

/**
 * A session that answers every prompt with `tokens` tokens, taking the
 * decode time `ms(setting, try)` gives (setting: 'full' or the draft exit),
 * and accepting `accepted(exit)` of 10 drafts per answer.
 */
function standIn(options: {
  exits: number[]
  numLayers: number
  tokens?: number
  ms: (setting: 'full' | number, attempt: number) => number
  accepted?: (exit: number) => number
  onCall?: () => void
}): { session: CalibrationSession; calls: SessionGenerateOptions[] } {
  const calls: SessionGenerateOptions[] = []
  const attempts = new Map<string, number>()
  const session = {
    info: { path: '/models/stand-in', numLayers: options.numLayers, exits: options.exits },
    async generate(o: SessionGenerateOptions) {
      calls.push(o)
      options.onCall?.()
      const exact = o.exitAt(0) === 'exact'
      const setting = exact ? o.speculative!.draftExit! : 'full'
      const key = `${setting}/${JSON.stringify(o.input)}`
      const attempt = attempts.get(key) ?? 0
      attempts.set(key, attempt + 1)
      const tokens = Array.from({ length: options.tokens ?? o.maxNewTokens }, (_, i) => i + 10)
      const drafted = exact ? 10 : 0
      return { tokens, decodeMs: options.ms(setting, attempt), drafted, accepted: exact ? (options.accepted?.(setting as number) ?? 5) : 0 }
    },
  } as unknown as CalibrationSession
  return { session, calls }
}

const prompts = [{ promptIds: [1, 2] }, { promptIds: [3, 4] }]

describe('calibrateDraftExit', () => {
  it('measures full depth and every offered exit below it, keeping the fastest try of each answer', async () => {
    // Try 2 (attempt 1) is the fast one everywhere; exit 4 is the fastest setting.
    const perToken: Record<string, number> = { full: 2, 2: 2.5, 4: 1.6 }
    const { session, calls } = standIn({
      numLayers: 6,
      exits: [2, 4, 6],
      ms: (setting, attempt) => perToken[String(setting)]! * 9 * (attempt === 1 ? 1 : 3),
      accepted: (exit) => (exit === 2 ? 3 : 7),
    })
    const progress: CalibrationProgress[] = []
    const result = await calibrateDraftExit(session, { prompts, maxNewTokens: 10, tries: 3, onProgress: (p) => progress.push(p) })
    // 3 tries × 3 settings × 2 prompts, full depth at L, Exact drafting at each exit.
    expect(calls).toHaveLength(18)
    expect(new Set(calls.map((c) => (c.exitAt(0) === 'exact' ? c.speculative!.draftExit : c.exitAt(0))))).toEqual(new Set([6, 2, 4]))
    expect(calls.every((c) => c.maxNewTokens === 10)).toBe(true)
    // 9 decoded tokens per answer (the first is the prefill's) in 2 ms each at full depth.
    expect(result.fullDepthTokensPerS).toBeCloseTo(500, 6)
    expect(result.decodedTokens).toBe(18)
    expect(result.exits.map((m) => m.exit)).toEqual([2, 4])
    expect(result.exits[0]).toMatchObject({ drafted: 20, accepted: 6, acceptanceRate: 0.3, matchesFullDepth: true })
    expect(result.exits[0]!.speedup).toBeCloseTo(0.8, 6)
    expect(result.exits[1]).toMatchObject({ drafted: 20, accepted: 14, acceptanceRate: 0.7 })
    expect(result.exits[1]!.tokensPerS).toBeCloseTo(625, 6)
    expect(result).toMatchObject({ chosenExit: 4, beatsFullDepth: true, prompts: 2, maxNewTokens: 10, tries: 3 })
    expect(progress.map((p) => p.fraction)).toEqual([...progress.map((p) => p.fraction)].sort((a, b) => a - b))
    expect(progress[0]!.fraction).toBe(0)
    expect(progress.at(-1)!.fraction).toBe(1)
    expect(progress[1]!.message).toBe('try 1/3: full depth, prompt 2/2')
  })

  it('still chooses an exit when none beats full depth, and says so', async () => {
    const { session } = standIn({ numLayers: 4, exits: [1, 2, 3, 4], ms: (setting) => (setting === 'full' ? 10 : 10 + (setting as number)) })
    const result = await calibrateDraftExit(session, { prompts, maxNewTokens: 8, tries: 1 })
    expect(result).toMatchObject({ chosenExit: 1, beatsFullDepth: false })
    expect(result.exits.every((m) => m.speedup < 1)).toBe(true)
  })

  it('stops at the next answer when cancelled, with the signal\'s reason', async () => {
    const controller = new AbortController()
    const { session, calls } = standIn({ numLayers: 4, exits: [1, 2, 3, 4], ms: () => 5, onCall: () => calls.length === 3 && controller.abort() })
    await expect(calibrateDraftExit(session, { prompts, signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' })
    expect(calls).toHaveLength(3)
  })

  it('refuses a model with no exit below full depth, and answers with nothing to time', async () => {
    const shallow = standIn({ numLayers: 4, exits: [4], ms: () => 5 })
    await expect(calibrateDraftExit(shallow.session, { prompts })).rejects.toThrow('/models/stand-in: no exit below the full depth (4) to draft with')
    expect(shallow.calls).toHaveLength(0)
    const oneToken = standIn({ numLayers: 4, exits: [2, 4], tokens: 1, ms: () => 0 })
    await expect(calibrateDraftExit(oneToken.session, { prompts, tries: 1 })).rejects.toThrow(DraftCalibrationError)
  })

  it('on a real tiny model: every exit measured, Exact answers identical to full depth, an offered exit chosen', async () => {
    const dir = join(root, 'tiny')
    writeTinyTextModel(dir, { seed: 11, layers: 3, config: { eos_token_id: 9999 } })
    const session = await ModelSession.open(dir)
    try {
      const result = await calibrateDraftExit(session, { prompts: [{ prompt: 'a b c' }, { prompt: 'hello' }], maxNewTokens: 6, tries: 1 })
      expect(result.exits.map((m) => m.exit)).toEqual([1, 2])
      expect(result.exits.every((m) => m.matchesFullDepth && m.drafted > 0 && m.tokensPerS > 0)).toBe(true)
      expect(result.decodedTokens).toBe(10)
      expect([1, 2]).toContain(result.chosenExit)
    } finally {
      await session.release()
    }
  })
})
