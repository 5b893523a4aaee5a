import { describe, expect, it } from 'vitest'
import { weightOf, weightSlots } from '../../../../src-main/engine/model/weight-map'
import type { ModelConfig, ModelWeights } from '../../../../src-main/engine/model/types'
import { toModelProto } from '../../../../src-main/engine/onnx/serialize'
import { loadSession, tensor, type ort } from '../../../../src-main/engine/onnx/session'
import { parseExits } from '../../../../src-main/engine/train/exits'
import { buildSortedTrainGraph } from '../../../../src-main/engine/train/sorted-graph'
import { tinyConfig, tinyWeights } from '../generate/random-model'
import { referenceLogits } from '../generate/reference'

const B = 2
const T = 5
const ids = [
  [5, 9, 2, 7, 1],
  [3, 3, 8, 0, 4],
]
// Prompt positions are −100: only later tokens count, as in response-only training.
const labels = [
  [-100, -100, 2, 7, 1],
  [-100, 3, 8, 0, -100],
]

/** Independent SoFT loss: reference logits (plain loops), shifted CE, mean over counted targets. */
function referenceLoss(config: ModelConfig, weights: ModelWeights, exit: number): number {
  let total = 0
  let count = 0
  ids.forEach((row, b) => {
    const logits = referenceLogits(config, weights, row, exit)
    for (let t = 0; t + 1 < T; t++) {
      const target = labels[b]![t + 1]!
      if (target === -100) continue
      const z = logits[t]!
      const max = Math.max(...z)
      const lse = max + Math.log(z.reduce((s, v) => s + Math.exp(v - max), 0))
      total += lse - z[target]!
      count++
    }
  })
  return total / count
}

function feeds(config: ModelConfig, weights: ModelWeights, lr: number): Record<string, ort.Tensor> {
  const f: Record<string, ort.Tensor> = {
    input_ids: tensor('int64', BigInt64Array.from(ids.flat().map(BigInt)), [B, T]),
    labels: tensor('int64', BigInt64Array.from(labels.flat().map(BigInt)), [B, T]),
    lr: tensor('float32', Float32Array.of(lr), []),
    step: tensor('float32', Float32Array.of(1), []),
  }
  for (const slot of weightSlots(config)) {
    const data = weightOf(weights, slot)!
    f[slot.name] = tensor('float32', data, slot.shape)
    f[`m.${slot.name}`] = tensor('float32', new Float32Array(data.length), slot.shape)
    f[`v.${slot.name}`] = tensor('float32', new Float32Array(data.length), slot.shape)
  }
  return f
}

describe('SoFT training step', () => {
  const config = tinyConfig({ layers: 3, vocab: 12, hidden: 8, heads: 2, kvHeads: 1, intermediate: 12, architecture: 'qwen2' })
  const weights = tinyWeights(config, 21)
  const exits = parseExits('all', 3)

  it('computes every exit loss as the independent reference does, and the SoFT objective as their mean', async () => {
    const step = buildSortedTrainGraph({ config, exits, batchSize: B, seqLen: T, mode: 'step', optimizer: { weightDecay: 0 } })
    const { session } = await loadSession(toModelProto(step.graph))
    const out = await session.run(feeds(config, weights, 1e-3))
    const expected = exits.map((e) => referenceLoss(config, weights, e))
    exits.forEach((e, i) => expect(Number(out[`loss.${e}`]!.data[0])).toBeCloseTo(expected[i]!, 4))
    expect(Number(out['loss.tokens']!.data[0])).toBe(6)
    expect(Number(out.objective!.data[0])).toBeCloseTo(expected.reduce((a, b) => a + b, 0) / 3, 4)
  })

  it('takes the first AdamW step along the sign of the reference gradient (finite differences)', async () => {
    const lr = 1e-3
    const step = buildSortedTrainGraph({ config, exits, batchSize: B, seqLen: T, mode: 'step', optimizer: { weightDecay: 0 } })
    const { session } = await loadSession(toModelProto(step.graph))
    const out = await session.run(feeds(config, weights, lr))
    const objective = (w: ModelWeights) => exits.reduce((s, e) => s + referenceLoss(config, w, e), 0) / exits.length
    // A few entries of a shared tensor (the LM head, read by every exit) and of a deep layer.
    const probes: [string, (w: ModelWeights) => Float32Array, number][] = [
      ['lm_head.weight', (w) => w.lmHead!, 5],
      ['lm_head.weight', (w) => w.lmHead!, 40],
      ['model.layers.2.mlp.down_proj.weight', (w) => w.layers[2]!.down, 7],
      ['model.layers.0.self_attn.q_proj.bias', (w) => w.layers[0]!.qBias!, 3],
    ]
    for (const [name, field, index] of probes) {
      const h = 1e-3
      const original = field(weights)[index]!
      field(weights)[index] = original + h
      const plus = objective(weights)
      field(weights)[index] = original - h
      const minus = objective(weights)
      field(weights)[index] = original
      const g = (plus - minus) / (2 * h)
      // Step 1 from zero moments: m̂ = g, v̂ = g², so the update is −lr·g/(|g| + eps).
      const expected = original - (lr * g) / (Math.abs(g) + 1e-8)
      const updated = (out[`${name}.new`]!.data as Float32Array)[index]!
      expect(Math.abs(g)).toBeGreaterThan(1e-4)
      expect(updated).toBeCloseTo(expected, 6)
    }
  })
})

describe('exits', () => {
  it('reads all, lists and every:N:from:M, always including the full model', () => {
    expect(parseExits('all', 4)).toEqual([1, 2, 3, 4])
    expect(parseExits('2, 4', 6)).toEqual([2, 4, 6])
    expect(parseExits('every:4:from:12', 40)).toEqual([12, 16, 20, 24, 28, 32, 36, 40])
    expect(parseExits('every:3:from:2', 7)).toEqual([2, 5, 7])
  })

  it('names what is wrong', () => {
    expect(() => parseExits('2,x', 6)).toThrow('"x" is not a layer count')
    expect(() => parseExits('9', 6)).toThrow('9 is outside 1..6')
    expect(() => parseExits('every:4', 6)).toThrow('expected every:N:from:M')
  })
})
