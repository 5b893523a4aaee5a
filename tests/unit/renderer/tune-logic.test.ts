import { describe, expect, it } from 'vitest'
import { TuneRequest } from '../../../src-main/api/contract'
import { parseExits } from '../../../src-main/engine/train/exits'
import { maxUploadBytes as serverUploadLimit } from '../../../src-main/services/datasets'
import { createCurveSet } from '../../../src-renderer/src/tune/curves'
import { maxUploadBytes, tuneDefaults } from '../../../src-renderer/src/tune/defaults'
import { exitSpec, presetExits, toggleExit } from '../../../src-renderer/src/tune/exits'
import { baseName, defaultOutDir, formatBytes, formatDuration } from '../../../src-renderer/src/tune/format'

describe('wizard defaults', () => {
  it('are the contract’s TuneRequest defaults', () => {
    const parsed = TuneRequest.parse({ modelPath: 'm', dataPath: 'd', outDir: 'o', mode: 'soft' })
    const { modelPath, dataPath, outDir, mode, ...defaults } = parsed
    expect(tuneDefaults).toEqual(defaults)
  })

  it('cap uploads where the server does', () => {
    expect(maxUploadBytes).toBe(serverUploadLimit)
  })
})

describe('exit strip', () => {
  it('names the chosen exits as the engine parses them, always with the full model', () => {
    expect(exitSpec([1, 2, 3, 4], 4)).toBe('all')
    expect(exitSpec([2], 4)).toBe('2,4')
    expect(parseExits(exitSpec([3, 1], 6), 6)).toEqual([1, 3, 6])
    expect(presetExits('every-2', 7)).toEqual([2, 4, 6, 7])
    expect(presetExits('every-2', 6)).toEqual([2, 4, 6])
    expect(presetExits('last', 6)).toEqual([6])
  })

  it('toggles a layer, but never the full model', () => {
    expect(toggleExit([2, 4], 2, 4)).toEqual([4])
    expect(toggleExit([4], 1, 4)).toEqual([1, 4])
    expect(toggleExit([1, 4], 4, 4)).toEqual([1, 4])
  })
})

describe('loss curves', () => {
  it('keeps one series per split and exit, in step order', () => {
    const curves = createCurveSet()
    curves.add({ step: 1, exit: 2, split: 'train', loss: 3 })
    curves.add({ step: 1, exit: 1, split: 'train', loss: 4 })
    curves.add({ step: 1, exit: null, split: 'train', loss: null })
    curves.add({ step: 2, exit: 1, split: 'validation', loss: 2 })
    curves.add({ step: 2, exit: 1, split: 'train', loss: 3.5 })
    expect(curves.curves.map((c) => [c.key, c.points.map((p) => p.x)])).toEqual([
      ['train:1', [1, 2]],
      ['train:2', [1]],
      ['validation:1', [2]],
    ])
  })

  it('replaces the steps a resumed run recomputes, leaving no repeat', () => {
    const curves = createCurveSet()
    for (let step = 1; step <= 7; step++) curves.add({ step, exit: 1, split: 'train', loss: 10 - step })
    // Resumed from the checkpoint at step 5: step 6 comes again.
    curves.add({ step: 6, exit: 1, split: 'train', loss: 0.5 })
    curves.add({ step: 7, exit: 1, split: 'train', loss: 0.25 })
    curves.add({ step: 8, exit: 1, split: 'train', loss: 0.125 })
    expect(curves.curves[0]!.points).toEqual([
      { x: 1, y: 9 }, { x: 2, y: 8 }, { x: 3, y: 7 }, { x: 4, y: 6 }, { x: 5, y: 5 }, { x: 6, y: 0.5 }, { x: 7, y: 0.25 }, { x: 8, y: 0.125 },
    ])
  })
})

describe('formatting', () => {
  it('says durations and sizes the way people read them', () => {
    expect(formatDuration(0.2)).toBe('< 1 s')
    expect(formatDuration(42)).toBe('42 s')
    expect(formatDuration(600)).toBe('10 min')
    expect(formatDuration(3 * 3600 + 20 * 60)).toBe('3 h 20 min')
    expect(formatBytes(512)).toBe('512 B')
    expect(formatBytes(1536)).toBe('1.5 KB')
    expect(formatBytes(3 * 1024 ** 3)).toBe('3.0 GB')
  })

  it('puts a new output folder in the data folder, in its own separator', () => {
    const at = new Date(2025, 0, 2, 3, 4, 5)
    expect(defaultOutDir('/home/me/.config/Sorted Studio/', 'TinyLlama 1.1B', 'soft', at)).toBe('/home/me/.config/Sorted Studio/models/TinyLlama_1.1B-soft-20250102-030405')
    expect(defaultOutDir('C:\\Users\\me\\Sorted Studio', 'm', 'sft', at)).toBe('C:\\Users\\me\\Sorted Studio\\models\\m-sft-20250102-030405')
    expect(baseName('C:\\models\\qwen\\')).toBe('qwen')
  })
})
