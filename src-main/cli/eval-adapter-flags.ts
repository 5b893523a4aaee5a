/**
 * `sorted eval`'s adapter flags: `--adapter DIR` / `--adapter-rank B` for
 * both sides, `--adapter-a`/`--adapter-b` and `--adapter-rank-a`/
 * `--adapter-rank-b` for one side (over the shared ones, as --weights-a/-b
 * are over --weights). Each error names the flag at fault; the adapter's
 * small files are read here (no weights), so a rank above its r is refused
 * before any model is loaded.
 */
import { readAdapterSettings, AdapterError } from '../engine/model/peft-adapter'
import type { ContenderAdapter } from '../engine/judge/contender'
import { UsageError } from './commands'
import { numberOption, positiveInt } from './options'

export const evalAdapterOptions = {
  adapter: { type: 'string' },
  'adapter-a': { type: 'string' },
  'adapter-b': { type: 'string' },
  'adapter-rank': { type: 'string' },
  'adapter-rank-a': { type: 'string' },
  'adapter-rank-b': { type: 'string' },
} as const

export const evalAdapterUsage = `  --adapter DIR          a PEFT LoRA/DyLoRA adapter (sorted tune --adapter …) for both sides,
                         merged into each side's fp32 weights at load
  --adapter-rank B       a DyLoRA adapter's rank to merge, 1..r (default r), for each side with one
  --adapter-a DIR, --adapter-b DIR            one side's adapter (over --adapter)
  --adapter-rank-a B, --adapter-rank-b B      one side's rank (over --adapter-rank)`

export type EvalAdapterFlags = Partial<Record<keyof typeof evalAdapterOptions, string | undefined>>

/** Each side's adapter (undefined: none), or a UsageError/AdapterError naming the flag. */
export function evalAdapters(flags: EvalAdapterFlags): { a: ContenderAdapter | undefined; b: ContenderAdapter | undefined } {
  const a = sideAdapter(flags, 'a')
  const b = sideAdapter(flags, 'b')
  if (flags['adapter-rank'] !== undefined && !a && !b) throw new UsageError('--adapter-rank only goes with --adapter, --adapter-a or --adapter-b.')
  return { a, b }
}

function sideAdapter(flags: EvalAdapterFlags, side: 'a' | 'b'): ContenderAdapter | undefined {
  const ownDir = flags[`adapter-${side}`]
  const dirFlag = ownDir !== undefined ? `--adapter-${side}` : '--adapter'
  const dir = ownDir ?? flags.adapter
  const ownRank = flags[`adapter-rank-${side}`]
  const rankName = ownRank !== undefined ? `adapter-rank-${side}` : 'adapter-rank'
  const rank = numberOption(rankName, ownRank ?? flags['adapter-rank'], positiveInt, 'a positive whole number')
  if (dir === undefined) {
    if (ownRank !== undefined) throw new UsageError(`--adapter-rank-${side} needs an adapter for ${side}: give --adapter-${side} DIR or --adapter DIR.`)
    return undefined
  }
  if (dir.trim() === '') throw new UsageError(`${dirFlag} needs an adapter folder.`)
  let r: number
  try {
    r = readAdapterSettings(dir).rank
  } catch (error) {
    if (error instanceof AdapterError) throw new AdapterError(`${dirFlag}: ${error.message}`)
    throw error
  }
  if (rank !== undefined && rank > r) throw new UsageError(`--${rankName} ${rank} is above the adapter's r ${r} (${dir}).`)
  return { path: dir, ...(rank !== undefined ? { rank } : {}) }
}
