/**
 * The wizard starts an adapter run from the contract's adapter defaults
 * (the one module the renderer may import values from); they must be the
 * engine's, or the app and `sorted tune --adapter` would train differently.
 */
import { describe, expect, it } from 'vitest'
import { adapterDefaults, loraTargets, TuneRequest } from '../../../src-main/api/contract'
import { LORA_TARGETS, loraDefaults } from '../../../src-main/engine/model/lora'

describe('adapter defaults', () => {
  it('are the engine\'s LoRA defaults', () => {
    expect([...loraTargets]).toEqual([...LORA_TARGETS])
    expect({ rank: adapterDefaults.rank, alpha: adapterDefaults.alpha, targets: adapterDefaults.targets.join(',') }).toEqual({
      rank: loraDefaults.rank,
      alpha: loraDefaults.alpha,
      targets: loraDefaults.targets,
    })
  })

  it('the request accepts every adapter method the wizard offers, and nothing else', () => {
    const base = { modelPath: 'm', dataPath: 'd', outDir: 'o', mode: 'soft' }
    for (const adapter of ['lora', 'dylora']) expect(TuneRequest.safeParse({ ...base, adapter }).success).toBe(true)
    expect(TuneRequest.safeParse({ ...base, adapter: 'full' }).success).toBe(false)
  })
})
