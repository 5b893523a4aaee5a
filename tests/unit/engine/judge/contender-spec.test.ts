/**
 * How `sorted eval` reads a contender: MODEL, MODEL@EXIT, MODEL@exact,
 * MODEL@auto:TAU; anything else after the last `@` is refused with a message
 * that says what is wrong, and a folder whose name holds an `@` stays a folder.
 */
import { describe, expect, it } from 'vitest'
import { answerVariant, contenderLabel, variantOfDecoding, type ContenderAtExit } from '../../../../src-main/engine/judge/contender'
import { parseContenderSpec } from '../../../../src-main/engine/judge/contender-spec'

describe('parseContenderSpec', () => {
  it('reads a folder, a folder at an exit, Exact and Auto', () => {
    expect(parseContenderSpec('models/m')).toEqual({ modelPath: 'models/m' })
    expect(parseContenderSpec('models/m@3')).toEqual({ modelPath: 'models/m', exit: 3 })
    expect(parseContenderSpec('models/m@exact')).toEqual({ modelPath: 'models/m', mode: { kind: 'exact' } })
    expect(parseContenderSpec('models/m@auto:0.8')).toEqual({ modelPath: 'models/m', mode: { kind: 'auto', tau: 0.8 } })
    expect(parseContenderSpec('m@auto:0')).toEqual({ modelPath: 'm', mode: { kind: 'auto', tau: 0 } })
    expect(parseContenderSpec('m@auto:1')).toEqual({ modelPath: 'm', mode: { kind: 'auto', tau: 1 } })
    expect(parseContenderSpec('m@auto:.5')).toEqual({ modelPath: 'm', mode: { kind: 'auto', tau: 0.5 } })
  })

  it('refuses malformed forms, saying what is wrong', () => {
    expect(() => parseContenderSpec('m@auto:2')).toThrow('@auto:TAU needs TAU in 0..1 (got "2")')
    expect(() => parseContenderSpec('m@auto:-0.1')).toThrow('@auto:TAU needs TAU in 0..1 (got "-0.1")')
    expect(() => parseContenderSpec('m@auto:')).toThrow('@auto:TAU needs TAU in 0..1 (got "")')
    expect(() => parseContenderSpec('m@auto:abc')).toThrow('@auto:TAU needs TAU in 0..1 (got "abc")')
    expect(() => parseContenderSpec('m@auto')).toThrow('@auto needs a threshold: @auto:TAU with TAU in 0..1')
    expect(() => parseContenderSpec('m@exact:3')).toThrow(`@exact takes no value (got "exact:3"): Exact drafts at the model's default draft exit`)
    expect(() => parseContenderSpec('m@foo')).toThrow('"@foo" is not a contender form: give @EXIT (a layer count), @exact or @auto:TAU')
    expect(() => parseContenderSpec('m@0')).toThrow('the exit must be ≥ 1')
    expect(() => parseContenderSpec('@3')).toThrow('no model folder before "@3"')
  })

  it('keeps an @ inside a folder name: in a parent folder, or in a folder that exists', () => {
    expect(parseContenderSpec('runs@v2/model@2')).toEqual({ modelPath: 'runs@v2/model', exit: 2 })
    expect(parseContenderSpec('runs@v2/model')).toEqual({ modelPath: 'runs@v2/model' })
    expect(parseContenderSpec('model@v2', (p) => p === 'model@v2')).toEqual({ modelPath: 'model@v2' })
    expect(() => parseContenderSpec('model@v2', () => false)).toThrow('"@v2" is not a contender form')
  })
})

describe('contenderLabel and answerVariant', () => {
  it('name a contender as it is written, and tell quantized and moded answers apart from fp32 ones', () => {
    expect(contenderLabel({ modelPath: 'm', exit: 2 })).toBe('m@2')
    expect(contenderLabel({ modelPath: 'm', exit: 4, mode: { kind: 'exact' } })).toBe('m@exact')
    expect(contenderLabel({ modelPath: 'm', exit: 4, mode: { kind: 'auto', tau: 0.7 } })).toBe('m@auto:0.7')
    expect(answerVariant({ modelPath: 'm', exit: 4 })).toEqual({})
    expect(answerVariant({ modelPath: 'm', exit: 4, precision: 'fp32' })).toEqual({})
    // As the compare view records an int4 answer: the default block size is not spelled out.
    expect(answerVariant({ modelPath: 'm', exit: 4, precision: 'int4' })).toEqual({ weights: 'int4' })
    expect(answerVariant({ modelPath: 'm', exit: 4, precision: 'int4', blockSize: 32 })).toEqual({ weights: 'int4' })
    expect(answerVariant({ modelPath: 'm', exit: 4, precision: 'int4', blockSize: 64 })).toEqual({ weights: 'int4', blockSize: 64 })
    expect(answerVariant({ modelPath: 'm', exit: 4, mode: { kind: 'exact' } })).toEqual({ mode: 'exact' })
    expect(answerVariant({ modelPath: 'm', exit: 4, precision: 'int8', blockSize: 128, mode: { kind: 'auto', tau: 0.5 } })).toEqual({ weights: 'int8', blockSize: 128, mode: 'auto', tau: 0.5 })
  })

  it('reads a recorded decoding back into the weights and mode answerVariant wrote, and refuses what it did not write', () => {
    const base = { maxNewTokens: 8, greedy: true }
    const contenders: ContenderAtExit[] = [
      { modelPath: 'm', exit: 4 },
      { modelPath: 'm', exit: 4, precision: 'int4' },
      { modelPath: 'm', exit: 4, precision: 'int8', blockSize: 64 },
      { modelPath: 'm', exit: 8, mode: { kind: 'exact' } },
      { modelPath: 'm', exit: 8, precision: 'int4', mode: { kind: 'auto', tau: 0.5 } },
    ]
    for (const c of contenders) expect(answerVariant({ modelPath: 'm', exit: c.exit, ...variantOfDecoding({ ...base, ...answerVariant(c) }, base) })).toEqual(answerVariant(c))
    // Another answer length, an unknown key, a mode without its τ: not one of this evaluation's contenders.
    expect(variantOfDecoding({ maxNewTokens: 16, greedy: true }, base)).toBeUndefined()
    expect(variantOfDecoding({ ...base, temperature: 0.7 }, base)).toBeUndefined()
    expect(variantOfDecoding({ ...base, mode: 'auto' }, base)).toBeUndefined()
    expect(variantOfDecoding({ ...base, weights: 'fp16' }, base)).toBeUndefined()
  })
})
