import { describe, expect, it } from 'vitest'
import { rankHeatMap } from '../../../src-renderer/src/tune/rank-heat-map'

describe("a DyLoRA run's rank × exit heat map", () => {
  // Keys as sorted.json writes them (strings), in an order that is not numeric.
  const table = {
    '4': { '3': 3.5, '1': 4.5, '2': 4.0 },
    '1': { '1': 5.5, '3': 4.25, '2': 5.0 },
    '2': { '2': 4.5, '3': 3.75, '1': 5.25 },
  }

  it('puts ranks in rows and exits in columns, both ascending, each cell with its loss as text and title', () => {
    const map = rankHeatMap(table)!
    expect(map.exits).toEqual([1, 2, 3])
    expect(map.rows.map((row) => row.rank)).toEqual([1, 2, 4])
    expect(map.rows.map((row) => row.cells.map((cell) => cell.text))).toEqual([
      ['5.5000', '5.0000', '4.2500'],
      ['5.2500', '4.5000', '3.7500'],
      ['4.5000', '4.0000', '3.5000'],
    ])
    expect(map.rows[1]!.cells[2]).toMatchObject({ rank: 2, exit: 3, loss: 3.75, title: 'rank 2, exit 3: validation loss 3.7500' })
  })

  it('colours from the lowest loss (strongest) to the highest (faintest)', () => {
    const map = rankHeatMap(table)!
    expect(map.lowest).toMatchObject({ rank: 4, exit: 3, loss: 3.5, strength: 1 })
    expect(map.highest).toMatchObject({ rank: 1, exit: 1, loss: 5.5, strength: 0 })
    expect(map.lowest.background).toBe('color-mix(in srgb, var(--color-accent) 60%, var(--color-surface))')
    expect(map.highest.background).toBe('color-mix(in srgb, var(--color-accent) 8%, var(--color-surface))')
    // Halfway between: 4.5 → strength 0.5.
    expect(map.rows[2]!.cells[0]!.strength).toBe(0.5)
    const strengths = map.rows.flatMap((row) => row.cells.map((cell) => cell.strength!))
    for (const s of strengths) expect(s).toBeGreaterThanOrEqual(0)
    for (const s of strengths) expect(s).toBeLessThanOrEqual(1)
  })

  it('shows a cell that was not measured as a dash without colour, and nothing for an empty table', () => {
    const map = rankHeatMap({ '1': { '1': 2, '2': 1 }, '2': { '2': 1.5 } })!
    expect(map.rows[1]!.cells[0]).toMatchObject({ rank: 2, exit: 1, loss: null, text: '—', strength: null, background: undefined, title: 'rank 2, exit 1: not measured' })
    expect(rankHeatMap({})).toBeNull()
    expect(rankHeatMap(undefined)).toBeNull()
  })

  it('gives every cell full strength when all losses are equal', () => {
    const map = rankHeatMap({ '1': { '1': 2 }, '2': { '1': 2 } })!
    expect(map.rows.map((row) => row.cells[0]!.strength)).toEqual([1, 1])
    expect(map.lowest).toMatchObject({ rank: 1, exit: 1 })
  })
})
