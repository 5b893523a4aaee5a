import { describe, expect, it } from 'vitest'
import { grad } from '../../../../src-main/engine/onnx/autodiff'
import { Graph, type Tensor } from '../../../../src-main/engine/onnx/graph'
import { add, mul, sum } from '../../../../src-main/engine/onnx/ops/basic'
import { linearCrossEntropy, stopGradient } from '../../../../src-main/engine/onnx/ops/fused'
import { crossEntropy } from '../../../../src-main/engine/onnx/ops/loss'
import { matmul } from '../../../../src-main/engine/onnx/ops/matmul'
import { transpose } from '../../../../src-main/engine/onnx/ops/shape'
import { liveNodes, toModelProto } from '../../../../src-main/engine/onnx/serialize'
import { loadSession, tensor } from '../../../../src-main/engine/onnx/session'
import { gradcheck } from './gradcheck'

const N = 5
const d = 3
const V = 7
const targets = BigInt64Array.from([1, -100, 6, 0, 3].map(BigInt))

describe('fused LM head + cross-entropy', () => {
  it('has the gradient of the plain composition (finite differences, float64)', async () => {
    await gradcheck(
      [{ shape: [N, d] }, { shape: [V, d] }, { shape: [N], dtype: 'int64', data: targets, differentiable: false }],
      (h, w, t) => linearCrossEntropy(h, w, t).loss,
    )
  })

  it('has the same gradient when it keeps the forward logits (finite differences, float64)', async () => {
    await gradcheck(
      [{ shape: [N, d] }, { shape: [V, d] }, { shape: [N], dtype: 'int64', data: targets, differentiable: false }],
      (h, w, t) => linearCrossEntropy(h, w, t, -100, { keepLogits: true }).loss,
    )
  })

  it('computes the logits once, not twice, when it keeps them', () => {
    const logitsProducts = (keepLogits: boolean) => {
      const g = new Graph()
      const h = g.input('h', 'float32', [N, d])
      const w = g.input('w', 'float32', [V, d])
      const loss = linearCrossEntropy(h, w, g.input('t', 'int64', [N]), -100, { keepLogits }).loss
      grad(loss, [h, w]).forEach((x, i) => g.output(x, `g${i}`))
      g.output(loss, 'loss')
      return liveNodes(g).filter((n) => (n.def.type === 'MatMul' || n.def.type === 'Gemm') && n.outputs[0]!.shape.join() === `${N},${V}`).length
    }
    expect(logitsProducts(false)).toBe(2)
    expect(logitsProducts(true)).toBe(1)
  })

  it('computes the same loss as cross-entropy of h·Wᵀ', async () => {
    const g = new Graph()
    const h = g.input('h', 'float64', [N, d])
    const w = g.input('w', 'float64', [V, d])
    const t = g.input('t', 'int64', [N])
    g.output(linearCrossEntropy(h, w, t).loss, 'fused')
    g.output(crossEntropy(matmul(h, transpose(w, [1, 0])), t).loss, 'plain')
    const { session } = await loadSession(toModelProto(g))
    const out = await session.run({
      h: tensor('float64', Float64Array.from({ length: N * d }, (_, i) => Math.sin(i)), [N, d]),
      w: tensor('float64', Float64Array.from({ length: V * d }, (_, i) => Math.cos(i)), [V, d]),
      t: tensor('int64', targets, [N]),
    })
    expect(out.fused!.data[0]).toBeCloseTo(Number(out.plain!.data[0]), 12)
  })

  it('stops gradients where asked', async () => {
    const g = new Graph()
    const x = g.input('x', 'float64', [])
    const [dx] = grad(add(mul(x, x), stopGradient(mul(x, 3))), [x])
    g.output(dx!, 'dx')
    const { session } = await loadSession(toModelProto(g))
    const out = await session.run({ x: tensor('float64', Float64Array.of(2), []) })
    // d/dx (x² + stop(3x)) = 2x = 4, not 2x + 3.
    expect(out.dx!.data[0]).toBe(4)
  })

  /** The most float [N, V] tensors alive at once over the whole (forward + backward) graph. */
  function peakVocabSized(graph: Graph): number {
    const nodes = liveNodes(graph)
    const order = new Map(nodes.map((n, i) => [n, i]))
    const lastUse = new Map<Tensor, number>()
    nodes.forEach((node, i) => node.inputs.forEach((t) => t && lastUse.set(t, i)))
    for (const out of graph.outputs) lastUse.set(out, nodes.length)
    const big = nodes.flatMap((n) => n.outputs).filter((t) => t.dtype === 'float32' && t.shape.length === 2 && t.shape[0] === N * 4 && t.shape[1] === 4096)
    let peak = 0
    for (let step = 0; step < nodes.length; step++) {
      peak = Math.max(peak, big.filter((t) => order.get(t.producer!)! <= step && (lastUse.get(t) ?? -1) >= step).length)
    }
    return peak
  }

  function threeExits(head: (h: Tensor, w: Tensor, t: Tensor) => Tensor): number {
    const g = new Graph()
    const w = g.input('w', 'float32', [4096, 8])
    const t = g.input('t', 'int64', [N * 4])
    let h = g.input('h', 'float32', [N * 4, 8])
    const mix = g.input('mix', 'float32', [8, 8])
    const losses: Tensor[] = []
    for (let exit = 0; exit < 3; exit++) {
      h = matmul(h, mix)
      losses.push(head(h, w, t))
    }
    const objective = sum(losses)
    const grads = grad(objective, [w, mix])
    g.output(objective, 'loss')
    grads.forEach((x, i) => g.output(x, `g${i}`))
    return peakVocabSized(g)
  }

  it('holds no [tokens, vocab] tensor per exit: at most two at once, however many exits', () => {
    expect(threeExits((h, w, t) => linearCrossEntropy(h, w, t).loss)).toBeLessThanOrEqual(2)
    // Keeping the deepest exit's logits (its backward runs first) keeps no second exit's logits alive.
    let exit = 0
    expect(threeExits((h, w, t) => linearCrossEntropy(h, w, t, -100, { keepLogits: ++exit === 3 }).loss)).toBeLessThanOrEqual(2)
    // The plain composition keeps every exit's logits for its backward.
    expect(threeExits((h, w, t) => crossEntropy(matmul(h, transpose(w, [1, 0])), t).loss)).toBeGreaterThanOrEqual(3)
  })
})
