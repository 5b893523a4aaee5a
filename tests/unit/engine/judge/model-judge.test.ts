import { describe, expect, it } from 'vitest'
import { createModelJudge } from '../../../../src-main/engine/judge/model-judge'
import { pandalmPrompt } from '../../../../src-main/engine/judge/pandalm'

describe('createModelJudge', () => {
  it('prompts the generator with the PandaLM prompt and parses its output', async () => {
    const prompts: string[] = []
    const judge = createModelJudge(async (prompt) => {
      prompts.push(prompt)
      return '2\n\n### Reason: Response 2 is correct.\n\n### Reference: Paris'
    })
    const task = { instruction: 'Capital of France?', input: '', response1: 'Lyon', response2: 'Paris' }
    expect(await judge.judge(task)).toEqual({ verdict: '2', reason: 'Response 2 is correct.', reference: 'Paris' })
    expect(prompts).toEqual([pandalmPrompt(task)])
  })

  it('judges both orders with the swapped prompt and combines them for A', async () => {
    const prompts: string[] = []
    // A fake judge that prefers "Paris" wherever it sits.
    const judge = createModelJudge(async (prompt) => {
      prompts.push(prompt)
      return prompt.includes('### Response 1:\nParis\n') ? '1\n\n### Reason: r' : '2\n\n### Reason: r'
    })
    const result = await judge.judgeBothOrders({ instruction: 'Capital of France?', a: 'Paris', b: 'Lyon' })
    expect(prompts).toEqual([
      pandalmPrompt({ instruction: 'Capital of France?', response1: 'Paris', response2: 'Lyon' }),
      pandalmPrompt({ instruction: 'Capital of France?', response1: 'Lyon', response2: 'Paris' }),
    ])
    expect([result.ab.verdict, result.ba.verdict]).toEqual(['1', '2'])
    expect(result.outcome).toEqual({ win: 1, loss: 0, tie: 0 })
  })

  it('splits the outcome when a position-biased generator always says 1', async () => {
    const judge = createModelJudge(async () => '1')
    const { outcome } = await judge.judgeBothOrders({ instruction: 'i', input: 'x', a: 'a', b: 'b' })
    expect(outcome).toEqual({ win: 0.5, loss: 0.5, tie: 0 })
  })

  it('counts unparseable output as a tie', async () => {
    const judge = createModelJudge(async () => 'I cannot decide.')
    expect((await judge.judge({ instruction: 'i', response1: 'a', response2: 'b' })).verdict).toBe('Tie')
  })
})
