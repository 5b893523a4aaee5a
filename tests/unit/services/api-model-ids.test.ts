import { describe, expect, it } from 'vitest'
import { assignApiNames, budgetsOf, formatModelId, offers, parseModelId, slugifyModelName } from '../../../src-main/services/api-model-ids'

describe('API model ids (NAME, NAME@K, NAME@mode)', () => {
  it('reads a bare name as the full model, NAME@K as exit K, NAME@exact / NAME@auto as modes', () => {
    expect(parseModelId('dictionary-soft')).toEqual({ name: 'dictionary-soft', budget: { kind: 'full' } })
    expect(parseModelId('dictionary-soft@4')).toEqual({ name: 'dictionary-soft', budget: { kind: 'exit', exit: 4 } })
    expect(parseModelId('dictionary-soft@exact')).toEqual({ name: 'dictionary-soft', budget: { kind: 'mode', mode: 'exact' } })
    expect(parseModelId('dictionary-soft@auto')).toEqual({ name: 'dictionary-soft', budget: { kind: 'mode', mode: 'auto' } })
  })

  it('refuses what cannot be an id: an empty name, exit 0, a signed or fractional exit, an unknown mode', () => {
    for (const id of ['', '@4', 'm@0', 'm@-1', 'm@1.5', 'm@04', 'm@fast', 'm@', 'm@1e3']) expect(parseModelId(id), id).toBeUndefined()
  })

  it('formats what it parses back to the same id', () => {
    for (const id of ['a', 'a@1', 'a@12', 'a@exact', 'a@auto']) {
      const parsed = parseModelId(id)!
      expect(formatModelId(parsed.name, parsed.budget)).toBe(id)
    }
  })

  it('makes library names safe and never empty, and never lets @ into a name', () => {
    expect(slugifyModelName('My model (v2)')).toBe('My-model-v2')
    expect(slugifyModelName('a@b')).toBe('a-b')
    expect(slugifyModelName('///')).toBe('model')
  })

  it('keeps names unique: the first model keeps a shared name, the next gets its id appended', () => {
    const names = assignApiNames([
      { id: 'bundled:x', name: 'x', numLayers: 2, exits: [] },
      { id: '0f1e2d3c-aaaa', name: 'x', numLayers: 2, exits: [] },
      { id: '0f1e2d3c-bbbb', name: 'x', numLayers: 2, exits: [] },
    ]).map((n) => n.name)
    expect(new Set(names).size).toBe(3)
    expect(names[0]).toBe('x')
  })

  it('offers the full model, each sorted exit, and modes only where the engine reports them', () => {
    const sorted = { id: 'a', name: 'a', numLayers: 8, exits: [2, 4, 8] }
    expect(budgetsOf(sorted).map((b) => formatModelId('a', b))).toEqual(['a', 'a@2', 'a@4', 'a@8'])
    expect(offers(sorted, { kind: 'exit', exit: 3 })).toBe(false)
    expect(offers(sorted, { kind: 'mode', mode: 'exact' })).toBe(false)
    expect(offers({ ...sorted, modes: ['exact'] }, { kind: 'mode', mode: 'exact' })).toBe(true)
    // A plain model (no sorted.json) works at every layer count.
    expect(budgetsOf({ id: 'p', name: 'p', numLayers: 3, exits: [] }).map((b) => formatModelId('p', b))).toEqual(['p', 'p@1', 'p@2', 'p@3'])
  })
})
