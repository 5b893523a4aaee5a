/**
 * A tiny model and an eight-record dataset in a temporary folder, and tune
 * requests on them, each with a fresh output folder: what the tune-job and
 * run-lock tests start from.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TuneRequest } from '../../../../src-main/engine/train/tune-job'
import { writeTinyTextModel } from '../../../fixtures/fixtures'

export interface TuneJobFixture {
  root: string
  modelDir: string
  data: string
  /** A small SoFT request with a new outDir; `extra` overrides any setting. */
  request(extra?: Partial<TuneRequest>): TuneRequest
  remove(): void
}

export function tuneJobFixture(prefix: string, defaults: Partial<TuneRequest> = {}): TuneJobFixture {
  const root = mkdtempSync(join(tmpdir(), prefix))
  const modelDir = join(root, 'model')
  const data = join(root, 'data.jsonl')
  writeTinyTextModel(modelDir, { seed: 8 })
  const lines = Array.from({ length: 8 }, (_, i) => JSON.stringify({ instruction: `count to ${i}`, output: `${i} ${i + 1}` }))
  writeFileSync(data, `${lines.join('\n')}\n`)
  let outs = 0
  return {
    root,
    modelDir,
    data,
    request: (extra = {}) => ({
      modelPath: modelDir, dataPath: data, outDir: join(root, `out-${outs++}`), mode: 'soft', exits: 'all', maxSteps: 2, batchSize: 2, gradAccum: 1,
      lr: 1e-3, weightDecay: 0.01, warmup: 0, schedule: 'cosine', maxGradNorm: 1, seqLen: 64, seed: 1, shuffle: true, valSplit: 0.25,
      onError: 'stop', checkpointEvery: 1, evalEvery: 0, provider: 'cpu', ...defaults, ...extra,
    }),
    remove: () => rmSync(root, { recursive: true, force: true }),
  }
}
