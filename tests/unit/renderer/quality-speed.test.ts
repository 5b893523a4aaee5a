import { describe, expect, it } from 'vitest'
import type { ResultMatrix } from '../../../src-main/api/contract'
import { contenderLabel } from '../../../src-renderer/src/components/compare/contender'
import { formatSide } from '../../../src-renderer/src/components/compare/format'
import { qualitySpeedSeries, SHAPES } from '../../../src-renderer/src/components/compare/quality-speed'

const cell = (score: number) => ({ wins: 1, losses: 0, ties: 0, n: 1, score })
const opponent = { modelId: 'f', modelName: 'full', modelPath: '/m/full', exit: 8, precision: 'fp32' as const, mode: null }
type Row = ResultMatrix['rows'][number]
const row = (exit: number, precision: Row['precision'], mode: Row['mode'], tokensPerSecond: number, score: number, extra: Partial<Row> = {}): Row => ({
  exit,
  precision,
  mode,
  tokensPerSecond,
  cells: [cell(score)],
  ...extra,
})

describe('quality-vs-speed series', () => {
  it('draws each precision’s exits as a line of its own marker shape, and Exact and Auto as points of their own', () => {
    const matrix: ResultMatrix = {
      judge: 'reference',
      maxNewTokens: 8,
      model: { modelId: 's', modelName: 'sorted', modelPath: '/m/sorted' },
      opponents: [opponent],
      rows: [
        row(2, 'fp32', null, 40, -0.5),
        row(4, 'fp32', null, 20, 0),
        row(2, 'int4', null, 90, -0.6),
        row(4, 'int4', null, 60, -0.1),
        row(8, 'fp32', { kind: 'exact' }, 15, 0, { acceptanceRate: 0.8 }),
        row(8, 'fp32', { kind: 'auto', tau: 0.5 }, 30, -0.2, { meanExit: 3.25 }),
      ],
    }
    const series = qualitySpeedSeries(matrix)
    expect(series.map((s) => [s.label, s.shape, s.line, s.points.length])).toEqual([
      ['exits fp32 vs full@8', SHAPES.fp32, true, 2],
      ['exits int4 vs full@8', SHAPES.int4, true, 2],
      ['Exact vs full@8', SHAPES.exact, false, 1],
      ['Auto vs full@8', SHAPES.auto, false, 1],
    ])
    expect(new Set(series.map((s) => s.shape)).size).toBe(4)
    expect(series[1]!.points).toEqual([
      { x: 90, y: -0.6, label: '@2 int4' },
      { x: 60, y: -0.1, label: '@4 int4' },
    ])
    expect(series[3]!.points).toEqual([{ x: 30, y: -0.2, label: '@auto:0.5 (mean exit 3.3)' }])
  })

  it('names a contender by model, exit or mode, and weights other than fp32', () => {
    expect(contenderLabel({ modelName: 'dictionary-soft', exit: 8, precision: 'int4', mode: null })).toBe('dictionary-soft@8 int4')
    expect(contenderLabel({ modelName: 'dictionary-soft', exit: 8, precision: 'fp32', mode: { kind: 'exact' } })).toBe('dictionary-soft@exact')
    expect(contenderLabel({ modelName: 'm', exit: 8, precision: 'int8', mode: { kind: 'auto', tau: 0.5 } })).toBe('m@auto:0.5 int8')
    expect(contenderLabel({ modelName: 'm', exit: 4, precision: 'int4', blockSize: 64, mode: null })).toBe('m@4 int4 (block 64)')
  })

  it('says how each side of a finished evaluation ran: weights (and why they fell back), Exact’s acceptance, Auto’s mean exit', () => {
    expect(formatSide('A', { precision: 'int4', mode: 'exact', acceptanceRate: 0.66 })).toBe('A: int4 weights, Exact · acceptance 66%.')
    expect(formatSide('A', { precision: 'fp32', mode: 'auto', tau: 0.5, meanExit: 5.86 })).toBe('A: fp32 weights, Auto τ 0.5 · mean exit 5.9.')
    expect(formatSide('B', { precision: 'fp32', weightsFallbackReason: 'the provider cannot run int4', mode: 'exit' })).toBe('B: fp32 weights (the provider cannot run int4).')
  })
})
