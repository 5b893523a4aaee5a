/**
 * A contender is one concept across the contract: a model folder at an
 * optional exit in evaluation and compare requests, a stored model id at an
 * exit in pair reviews. Each request takes and refuses contenders alike.
 */
import { describe, expect, it } from 'vitest'
import type { z } from 'zod'
import { CompareRequest, EvaluationRequest, methods } from '../../../src-main/api/contract'

const PairOutputsRequest = methods['evaluations.pairOutputs'].request

/** The issues (path and message) a request reports for contender `a`, or [] when it takes it. */
function contenderIssues(schema: z.ZodType, request: object) {
  const result = schema.safeParse(request)
  return result.success ? [] : result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }))
}

describe('a contender by model folder', () => {
  const cases: [string, unknown][] = [
    ['the full model', { modelPath: 'models/tiny' }],
    ['an exit', { modelPath: 'models/tiny', exit: 2 }],
    ['an empty folder', { modelPath: '' }],
    ['exit 0', { modelPath: 'models/tiny', exit: 0 }],
    ['a fractional exit', { modelPath: 'models/tiny', exit: 1.5 }],
    ['an unknown key', { modelPath: 'models/tiny', layer: 2 }],
  ]

  it.each(cases)('means the same to evaluations and compare (%s)', (_, contender) => {
    const b = { modelPath: 'models/other' }
    const evaluation = contenderIssues(EvaluationRequest, { setId: 's', a: contender, b })
    const compare = contenderIssues(CompareRequest, { prompt: 'hi', a: contender, b })
    expect(compare).toEqual(evaluation)
  })

  it('refuses what is not a contender, naming the field', () => {
    expect(contenderIssues(CompareRequest, { prompt: 'hi', a: { modelPath: 'm', exit: 0 }, b: { modelPath: 'n' } })).toEqual([
      { path: 'a.exit', message: expect.stringMatching(/>0|greater than 0/) },
    ])
  })
})

describe('a stored contender', () => {
  it('is a model id at an exit, nothing else', () => {
    const request = (a: unknown) => ({ setId: 's', a, b: { modelId: 'm2', exit: 1 }, maxNewTokens: null })
    expect(contenderIssues(PairOutputsRequest, request({ modelId: 'm1', exit: 3 }))).toEqual([])
    expect(contenderIssues(PairOutputsRequest, request({ modelId: '', exit: 3 })).map((i) => i.path)).toEqual(['a.modelId'])
    expect(contenderIssues(PairOutputsRequest, request({ modelId: 'm1' })).map((i) => i.path)).toEqual(['a.exit'])
    expect(contenderIssues(PairOutputsRequest, request({ modelId: 'm1', exit: 3, modelPath: 'x' })).map((i) => i.path)).toEqual(['a'])
  })
})
