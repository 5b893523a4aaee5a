import { describe, expect, it } from 'vitest'
import { buildLayerGraph, buildOuterGraph, transposeMatrix } from '../../../../src-main/engine/model/graphs'
import { layerSlots, weightOf, weightSlots } from '../../../../src-main/engine/model/weight-map'
import type { Graph } from '../../../../src-main/engine/onnx/graph'
import { buildSortedTrainGraph } from '../../../../src-main/engine/train/sorted-graph'
import { tinyConfig, tinyWeights, type TinyShape } from '../generate/random-model'

/** The initializers of `graph` whose names are Hugging Face tensor names. */
function namedWeights(graph: Graph): Map<string, { shape: readonly (number | string)[]; data: Float32Array }> {
  return new Map(
    graph.initializers
      .filter((i) => /^(model\.|lm_head\.)/.test(i.tensor.name))
      .map((i) => [i.tensor.name, { shape: i.tensor.shape, data: i.data as Float32Array }]),
  )
}

describe.each<[string, TinyShape]>([
  ['Llama, untied', { architecture: 'llama', layers: 2 }],
  ['Llama, tied', { architecture: 'llama', layers: 2, tied: true }],
  ['Qwen2 (q/k/v biases)', { architecture: 'qwen2', layers: 2, heads: 4, kvHeads: 1 }],
  ['Qwen3 (q/k norm)', { architecture: 'qwen3', layers: 2, heads: 2, kvHeads: 1, headDim: 12 }],
])('one weight map feeds import, training and inference: %s', (_name, shape) => {
  const config = tinyConfig(shape)
  const weights = tinyWeights(config, 5)
  const slots = weightSlots(config)

  it('names each tensor once, with the shape the config implies', () => {
    expect(new Set(slots.map((s) => s.name)).size).toBe(slots.length)
    for (const slot of slots) expect(weightOf(weights, slot)?.length, slot.name).toBe(slot.shape.reduce((a, b) => a * b, 1))
    // The architecture's switches add exactly their tensors.
    const perLayer = layerSlots(config, 0).map((s) => s.field)
    expect(perLayer.filter((f) => f.endsWith('Bias'))).toHaveLength(config.attentionBias ? 3 : 0)
    expect(perLayer.filter((f) => f === 'qNorm' || f === 'kNorm')).toHaveLength(config.qkNorm ? 2 : 0)
    expect(slots.some((s) => s.name === 'lm_head.weight')).toBe(!config.tieWordEmbeddings)
  })

  it('the training graph takes exactly these tensors as parameters, in [out, in] layout', () => {
    const { graph } = buildSortedTrainGraph({ config, exits: [1, 2], batchSize: 1, seqLen: 4, mode: 'gradients' })
    const params = graph.inputs.filter((t) => t.name !== 'input_ids' && t.name !== 'labels')
    expect(params.map((t) => [t.name, t.shape])).toEqual(slots.map((s) => [s.name, s.shape]))
  })

  it('the inference graphs hold exactly these tensors: linear layers transposed to [in, out], the rest as stored', () => {
    const held = new Map([...namedWeights(buildOuterGraph(config, weights))])
    for (let i = 0; i < config.numLayers; i++) for (const [name, w] of namedWeights(buildLayerGraph(config, weights.layers[i]!, i))) held.set(name, w)
    expect([...held.keys()].sort()).toEqual(slots.map((s) => s.name).sort())
    for (const slot of slots) {
      const stored = weightOf(weights, slot)!
      const inGraph = held.get(slot.name)!
      if (slot.role === 'linear') {
        const [out, inDim] = slot.shape as [number, number]
        expect(inGraph.shape, slot.name).toEqual([inDim, out])
        expect(inGraph.data, slot.name).toEqual(transposeMatrix(stored, out, inDim))
      } else {
        expect(inGraph.shape, slot.name).toEqual(slot.shape)
        expect(inGraph.data, slot.name).toBe(stored)
      }
    }
  })
})
