/**
 * Capability checks for com.microsoft contrib ops. They are faster fused
 * forms (e.g. SkipSimplifiedLayerNormalization) that not every execution
 * provider implements, so a graph may use one only after a one-node probe
 * session on the target provider built and ran it. Results are remembered
 * per process.
 */
import { Graph, type Tensor } from './graph'
import { toModelProto } from './serialize'
import { loadSession, tensor, type ProviderId, type SessionOptions } from './session'
import { add } from './ops/basic'
import type { DType } from './dtype'

export interface ContribProbe {
  /** The contrib op's type, e.g. 'SkipSimplifiedLayerNormalization'. */
  type: string
  /** Small static inputs for the probe graph. */
  inputs: { name: string; dtype: DType; shape: number[] }[]
  /** Builds the op on the probe's inputs (the graph allows `type`). */
  build(inputs: Tensor[]): Tensor
}

const results = new Map<string, Promise<boolean>>()

export function contribOpSupported(probe: ContribProbe, provider: ProviderId): Promise<boolean> {
  const key = `${probe.type}@${provider}`
  let result = results.get(key)
  if (!result) {
    result = runProbe(probe, provider)
    results.set(key, result)
  }
  return result
}

async function runProbe(probe: ContribProbe, provider: ProviderId): Promise<boolean> {
  try {
    const graph = new Graph(`probe-${probe.type}`, new Set([probe.type]))
    const inputs = probe.inputs.map((spec) => graph.input(spec.name, spec.dtype, spec.shape))
    graph.output(probe.build(inputs), 'y')
    // Pinned to the provider: a silent CPU fallback must not count as support.
    const loaded = await loadSession(toModelProto(graph), { provider })
    if (loaded.provider !== provider) return false
    const feeds = Object.fromEntries(
      probe.inputs.map((spec) => {
        const size = spec.shape.reduce((a, b) => a * b, 1)
        const data = spec.dtype === 'float64' ? new Float64Array(size).fill(0.5) : new Float32Array(size).fill(0.5)
        return [spec.name, tensor(spec.dtype, data, spec.shape)]
      }),
    )
    await loaded.session.run(feeds)
    await loaded.session.release()
    return true
  } catch {
    return false
  }
}

/**
 * The provider a model loaded with `options` lands on, found with a one-node
 * standard graph (cheap), so a contrib op can be probed there before the
 * model's graphs are built. A missing provider falls back as loadSession does.
 */
export async function settleProvider(options: SessionOptions): Promise<{ provider: ProviderId; fallbackReason: string | undefined }> {
  if ((options.provider ?? 'cpu') === 'cpu') return { provider: 'cpu', fallbackReason: undefined }
  const graph = new Graph('settle-provider')
  const x = graph.input('x', 'float32', [1])
  graph.output(add(x, x), 'y')
  const loaded = await loadSession(toModelProto(graph), options)
  await loaded.session.release()
  return { provider: loaded.provider, fallbackReason: loaded.fallbackReason }
}
