import { describe, expect, it } from 'vitest'
import { grad } from '../../../../src-main/engine/onnx/autodiff'
import type { DType } from '../../../../src-main/engine/onnx/dtype'
import { Graph, type Tensor } from '../../../../src-main/engine/onnx/graph'
import { neg, reduceSum, reshape } from '../../../../src-main/engine/onnx/ops/basic'
import { gatherElements } from '../../../../src-main/engine/onnx/ops/indexing'
import { crossEntropy } from '../../../../src-main/engine/onnx/ops/loss'
import { logSoftmax } from '../../../../src-main/engine/onnx/ops/nn'
import type { Shape } from '../../../../src-main/engine/onnx/shape'
import { toModelProto } from '../../../../src-main/engine/onnx/serialize'
import { loadSession, tensor } from '../../../../src-main/engine/onnx/session'
import { gradcheck, random } from './gradcheck'

const int64 = (values: number[]) => BigInt64Array.from(values.map(BigInt))

/** Mean token cross-entropy over counted targets, the slow obvious way. */
function naiveCrossEntropy(logits: Float64Array, vocab: number, targets: number[], ignoreIndex = -100) {
  let total = 0
  let count = 0
  targets.forEach((t, n) => {
    if (t === ignoreIndex) return
    const row = Array.from(logits.subarray(n * vocab, (n + 1) * vocab))
    const top = Math.max(...row)
    const logSumExp = top + Math.log(row.reduce((s, v) => s + Math.exp(v - top), 0))
    total += logSumExp - row[t]!
    count++
  })
  return { loss: count ? total / count : 0, count }
}

/** Runs crossEntropy and its gradient on concrete values. */
async function runCrossEntropy(
  logits: Float64Array,
  logitsShape: number[],
  targets: number[],
  options: { ignoreIndex?: number; targetDtype?: DType; symbolic?: Shape } = {},
) {
  const g = new Graph()
  const targetDtype = options.targetDtype ?? 'int64'
  const x = g.input('logits', 'float64', options.symbolic ?? logitsShape)
  const t = g.input('targets', targetDtype, (options.symbolic ?? logitsShape).slice(0, -1))
  const { loss, count } = crossEntropy(x, t, options.ignoreIndex === undefined ? {} : { ignoreIndex: options.ignoreIndex })
  const [dLogits] = grad(loss, [x])
  g.output(loss, 'loss')
  g.output(count, 'count')
  g.output(dLogits!, 'dLogits')
  const { session } = await loadSession(toModelProto(g))
  const targetData = targetDtype === 'int32' ? Int32Array.from(targets) : int64(targets)
  const out = await session.run({ logits: tensor('float64', logits, logitsShape), targets: tensor(targetDtype, targetData, logitsShape.slice(0, -1)) })
  await session.release()
  return {
    loss: Number(out.loss!.data[0]),
    count: Number(out.count!.data[0]),
    dLogits: Array.from(out.dLogits!.data as Float64Array),
  }
}

function randomLogits(size: number, seed = 7): Float64Array {
  const rand = random(seed)
  return Float64Array.from({ length: size }, () => 4 * rand() - 2)
}

describe('crossEntropy value', () => {
  it('is the mean over counted targets, with the count of counted targets', async () => {
    const logits = randomLogits(4 * 5)
    const targets = [1, -100, 4, 0]
    const out = await runCrossEntropy(logits, [4, 5], targets)
    const expected = naiveCrossEntropy(logits, 5, targets)
    expect(out.loss).toBeCloseTo(expected.loss, 12)
    expect(out.count).toBe(3)
  })

  it('reads [B, T, V] logits with [B, T] targets, symbolic or static, int64 or int32', async () => {
    const logits = randomLogits(2 * 3 * 4)
    const targets = [3, -100, 0, 2, 2, -100]
    const expected = naiveCrossEntropy(logits, 4, targets)
    const stat = await runCrossEntropy(logits, [2, 3, 4], targets)
    const symbolic = await runCrossEntropy(logits, [2, 3, 4], targets, { symbolic: ['batch', 'seq', 4], targetDtype: 'int32' })
    expect(stat.loss).toBeCloseTo(expected.loss, 12)
    expect(symbolic.loss).toBeCloseTo(expected.loss, 12)
    expect(symbolic.dLogits).toEqual(stat.dLogits)
  })

  it('honours a custom ignore index', async () => {
    const logits = randomLogits(3 * 4)
    const out = await runCrossEntropy(logits, [3, 4], [0, 2, 3], { ignoreIndex: 0 })
    expect(out.loss).toBeCloseTo(naiveCrossEntropy(logits, 4, [0, 2, 3], 0).loss, 12)
    expect(out.count).toBe(2)
  })

  it('is 0, not NaN, with a zero gradient when every target is ignored', async () => {
    const out = await runCrossEntropy(randomLogits(2 * 3), [2, 3], [-100, -100])
    // (SoftmaxCrossEntropyLoss sums no terms to −0, which is as good as 0.)
    expect(Math.abs(out.loss)).toBe(0)
    expect(out.count).toBe(0)
    expect(out.dLogits.map(Math.abs)).toEqual(new Array(6).fill(0))
  })
})

describe('crossEntropy gradient (float64, central differences)', () => {
  it('[N, V] with an ignored target', async () => {
    const targets = int64([1, -100, 4, 0])
    await gradcheck([{ shape: [4, 5], range: [-2, 2] }, { shape: [4], dtype: 'int64', data: targets }], (x, t) => crossEntropy(x, t).loss)
  })

  it('[B, T, V] with ignored targets', async () => {
    const targets = int64([3, -100, 0, 2, -100, 1])
    await gradcheck([{ shape: [2, 3, 4], range: [-2, 2] }, { shape: [2, 3], dtype: 'int64', data: targets }], (x, t) => crossEntropy(x, t).loss)
  })

  it('is (softmax − onehot) / count on counted rows and 0 on ignored ones', async () => {
    const logits = randomLogits(3 * 4)
    const targets = [2, -100, 0]
    const out = await runCrossEntropy(logits, [3, 4], targets)
    const expected = targets.flatMap((t, n) => {
      const row = Array.from(logits.subarray(n * 4, n * 4 + 4))
      const z = row.reduce((s, v) => s + Math.exp(v), 0)
      return row.map((v, j) => (t === -100 ? 0 : (Math.exp(v) / z - (j === t ? 1 : 0)) / 2))
    })
    out.dLogits.forEach((d, i) => expect(d).toBeCloseTo(expected[i]!, 12))
  })
})

describe('crossEntropy backward memory', () => {
  /**
   * The most [N, V]-sized float tensors alive at once while the backward
   * nodes run, not counting the logits (or a reshaped view of them). A tensor
   * lives from the node that makes it to its last reader (the end, for the
   * returned gradient); forward tensors read by the backward count too.
   */
  function peakLogitSizedTensors(graph: Graph, logits: Tensor, firstBackward: number, result: Tensor): number {
    const size = (t: Tensor) => (t.shape as number[]).reduce((a, b) => a * b, 1)
    const logitViews = new Set<Tensor>([logits])
    const lastUse = new Map<Tensor, number>()
    for (const node of graph.nodes) {
      for (const input of node.inputs) if (input) lastUse.set(input, node.id)
      const [source] = node.inputs
      if ((node.def.type === 'Flatten' || node.def.type === 'Reshape') && source && logitViews.has(source)) logitViews.add(node.outputs[0]!)
    }
    lastUse.set(result, graph.nodes.length)
    const big = graph.nodes
      .flatMap((n) => n.outputs)
      .filter((t) => t.dtype.startsWith('float') && size(t) === size(logits) && !logitViews.has(t))
    let peak = 0
    for (let step = firstBackward; step < graph.nodes.length; step++) {
      const live = big.filter((t) => t.producer!.id <= step && (lastUse.get(t) ?? t.producer!.id) >= step)
      peak = Math.max(peak, live.length)
    }
    return peak
  }

  function build(shape: number[], loss: (logits: Tensor, targets: Tensor) => Tensor) {
    const graph = new Graph()
    const logits = graph.input('logits', 'float32', shape)
    const targets = graph.input('targets', 'int64', shape.slice(0, -1))
    const value = loss(logits, targets)
    const firstBackward = graph.nodes.length
    const [dLogits] = grad(value, [logits])
    return peakLogitSizedTensors(graph, logits, firstBackward, dLogits!)
  }

  it('keeps at most two logits-sized tensors alive at any backward step', () => {
    expect(build([3, 7], (x, t) => crossEntropy(x, t).loss)).toBe(2)
    expect(build([2, 3, 7], (x, t) => crossEntropy(x, t).loss)).toBe(2)
  })

  it('(the same count for a log-softmax composition keeps more alive, so the check can tell)', () => {
    const composed = (x: Tensor, t: Tensor) => neg(reduceSum(gatherElements(logSoftmax(x), reshape(t, [3, 1]), 1), [0, 1]))
    expect(build([3, 7], composed)).toBeGreaterThan(2)
  })
})

describe('crossEntropy errors name the problem', () => {
  it('refuses targets whose shape is not the logits’ without the vocabulary axis, or float targets', () => {
    const g = new Graph()
    const logits = g.input('logits', 'float32', [2, 3, 5])
    expect(() => crossEntropy(logits, g.input('t', 'int64', [2, 5]))).toThrow(
      /crossEntropy node "logits": targets \[2, 5\] must have the shape of logits \[2, 3, 5\] without its last \(vocabulary\) axis/,
    )
    expect(() => crossEntropy(logits, g.input('f', 'float32', [2, 3]))).toThrow(/targets must be int64 or int32, got float32/)
  })
})
