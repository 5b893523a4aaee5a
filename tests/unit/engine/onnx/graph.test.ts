import { describe, expect, it } from 'vitest'
import { contribOpSupported } from '../../../../src-main/engine/onnx/contrib'
import { Graph } from '../../../../src-main/engine/onnx/graph'
import type { OpDef } from '../../../../src-main/engine/onnx/op'
import { add, cast, reduceSum } from '../../../../src-main/engine/onnx/ops/basic'
import { skipRmsNorm, skipRmsNormProbe } from '../../../../src-main/engine/onnx/ops/contrib'
import { rmsNorm } from '../../../../src-main/engine/model/layers'
import { grad } from '../../../../src-main/engine/onnx/autodiff'
import { toModelProto } from '../../../../src-main/engine/onnx/serialize'
import { loadSession, tensor } from '../../../../src-main/engine/onnx/session'
import { gradcheck, random } from './gradcheck'

describe('graph validation', () => {
  it('refuses an op that is not in ONNX opset 18, naming the node', () => {
    const g = new Graph()
    const x = g.input('x', 'float32', [2])
    const typo: OpDef<void> = { type: 'Sofmax', infer: ([t]) => [t!] }
    expect(() => g.scope('head', () => g.apply(typo, [x], undefined))).toThrow('Sofmax node "head/Sofmax": is not an ONNX operator (opset 18)')
  })

  it('refuses a contrib op the graph was not cleared to use', () => {
    const g = new Graph()
    const x = g.input('x', 'float32', [1, 2, 4])
    const w = g.input('w', 'float32', [4])
    expect(() => skipRmsNorm(x, x, w, 1e-6)).toThrow(/SkipSimplifiedLayerNormalization node .*contrib op this graph was not cleared to use/)
  })

  it('asks for a scalar loss or an explicit seed', () => {
    const g = new Graph()
    const x = g.input('x', 'float32', [3])
    expect(() => grad(add(x, 1), [x])).toThrow(/the loss must be a scalar/)
  })
})

describe('contrib ops behind a capability check', () => {
  it('probes a contrib op on the CPU provider and finds it', async () => {
    expect(await contribOpSupported(skipRmsNormProbe, 'cpu')).toBe(true)
  })

  it('reports a provider that cannot load as unsupported rather than falling back silently', async () => {
    // CUDA libraries are not installed here.
    expect(await contribOpSupported(skipRmsNormProbe, 'cuda')).toBe(false)
  })

  it('computes what the composed residual + RMSNorm computes', async () => {
    const g = new Graph('fused', new Set(['SkipSimplifiedLayerNormalization']))
    const x = g.input('x', 'float32', [2, 3, 8])
    const skip = g.input('skip', 'float32', [2, 3, 8])
    const w = g.input('w', 'float32', [8])
    const fused = skipRmsNorm(x, skip, w, 1e-6)
    g.output(fused.normed, 'fused')
    g.output(fused.sum, 'sum')
    g.output(rmsNorm(add(x, skip), w, 1e-6), 'composed')
    const { session } = await loadSession(toModelProto(g))
    const r = random(7)
    const values = (n: number) => Float32Array.from({ length: n }, () => r() * 2 - 1)
    const out = await session.run({
      x: tensor('float32', values(48), [2, 3, 8]),
      skip: tensor('float32', values(48), [2, 3, 8]),
      w: tensor('float32', values(8), [8]),
    })
    const a = out.fused!.data as Float32Array
    const b = out.composed!.data as Float32Array
    for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(b[i]!, 5)
  })
})

describe('Cast', () => {
  it('passes gradients through a float64 → float32 → float64 round trip', async () => {
    // float32 rounding (~6e-8 relative) limits finite differences: a larger
    // step keeps the numeric derivative of this linear map within 1e-4.
    await gradcheck([{ shape: [5] }], (x) => cast(cast(x, 'float32'), 'float64'), { eps: 1e-2, tolerance: 1e-4 })
  })

  it('gives no gradient through an integer cast', () => {
    const g = new Graph()
    const x = g.input('x', 'float64', [3])
    const [dx] = grad(reduceSum(cast(cast(x, 'int64'), 'float64'), [0]), [x])
    // No path carries gradient: the result is the zero fill, not a Cast.
    expect(dx!.producer?.def.type).toBe('Expand')
  })
})
