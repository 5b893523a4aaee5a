import type { ModelConfig } from '../model/types'
import { TuneSetupError, type SettingNamer } from './errors'
import { checkSeqLen } from './sequence-length'

/**
 * Which sub-models a run trains: exits are layer counts 1..L.
 *   "all"                every layer
 *   "2,4,6"              a list
 *   "every:N:from:M"     M, M+N, M+2N, … up to L (the paper: every:4:from:12 on 40 layers)
 * The full model (L) is always an exit: every mode trains it.
 */
export function parseExits(spec: string, numLayers: number): number[] {
  const text = spec.trim()
  let exits: number[]
  if (text === 'all') exits = Array.from({ length: numLayers }, (_, i) => i + 1)
  else if (text.startsWith('every:')) {
    const match = text.match(/^every:(\d+):from:(\d+)$/)
    if (!match) throw new Error(`exits "${spec}": expected every:N:from:M, e.g. every:4:from:12`)
    const [step, from] = [Number(match[1]), Number(match[2])]
    if (step < 1 || from < 1 || from > numLayers) throw new Error(`exits "${spec}": N must be ≥ 1 and M within 1..${numLayers}`)
    exits = []
    for (let e = from; e <= numLayers; e += step) exits.push(e)
  } else {
    exits = text.split(',').map((part) => {
      const value = part.trim()
      if (!/^\d+$/.test(value)) throw new Error(`exits "${spec}": "${value}" is not a layer count`)
      const e = Number(value)
      if (e < 1 || e > numLayers) throw new Error(`exits "${spec}": ${e} is outside 1..${numLayers}`)
      return e
    })
  }
  return [...new Set([...exits, numLayers])].sort((a, b) => a - b)
}

/**
 * A request's exits against the model, as every run, plan and job checks
 * them: the sequence length within the context, the exits parsed; a
 * TuneSetupError naming the setting (through `name`) otherwise.
 */
export function requestedExits(config: ModelConfig, request: { exits: string; seqLen: number }, name: SettingNamer): number[] {
  checkSeqLen(config, request.seqLen, name)
  try {
    return parseExits(request.exits, config.numLayers)
  } catch (error) {
    throw new TuneSetupError(`${name('exits')}: ${(error as Error).message}`, ['exits'])
  }
}
