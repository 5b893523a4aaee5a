/**
 * Reverse-mode automatic differentiation over the graph: appends backward
 * nodes, built from ordinary ops by each op's gradient rule, and returns the
 * gradient of `loss` with respect to each of `wrt`.
 *
 * A tensor used several times (the LM head read by every exit) receives one
 * contribution per use; they are summed with a single variadic Sum node.
 */
import { GraphError } from './errors'
import type { Graph, Node, Tensor } from './graph'
import { sameShape, formatShape } from './shape'
import { fill, sum } from './ops/basic'

export interface GradOptions {
  /** d(loss) to start from; default 1 (loss must then be a scalar). */
  seed?: Tensor
}

export function grad(loss: Tensor, wrt: readonly Tensor[], options: GradOptions = {}): Tensor[] {
  const graph = loss.graph
  if (!options.seed && loss.shape.length !== 0) {
    throw new GraphError('Grad', loss.name, `the loss must be a scalar (shape ${formatShape(loss.shape)}); pass a seed for other shapes`)
  }
  const seed = options.seed ?? graph.scalar(1, loss.dtype)
  const relevant = nodesBetween(graph, wrt, loss)

  const contributions = new Map<Tensor, Tensor[]>()
  const contribute = (tensor: Tensor, gradient: Tensor) => {
    const list = contributions.get(tensor)
    if (list) list.push(gradient)
    else contributions.set(tensor, [gradient])
  }
  const total = (tensor: Tensor): Tensor | undefined => {
    const list = contributions.get(tensor)
    if (!list || list.length === 0) return undefined
    const summed = list.length === 1 ? list[0]! : sum(list)
    contributions.set(tensor, [summed])
    return summed
  }
  contribute(loss, seed)

  return graph.scope('grad', () => {
    for (let i = relevant.length - 1; i >= 0; i--) {
      const node = relevant[i]!
      const dOutputs = node.outputs.map(total)
      if (dOutputs.every((d) => d === undefined)) continue
      if (!node.def.grad) throw new GraphError(node.def.type, node.name, 'is on the path to the loss but has no gradient rule')
      const dInputs = graph.scope(node.name, () =>
        node.def.grad!({ graph, node, params: node.params, inputs: node.inputs, outputs: node.outputs, dOutputs }),
      )
      node.inputs.forEach((input, k) => {
        const d = dInputs[k]
        if (!input || !d) return
        if (!sameShape(d.shape, input.shape) || d.dtype !== input.dtype) {
          throw new GraphError(
            node.def.type,
            node.name,
            `gradient rule gave ${d.dtype}${formatShape(d.shape)} for input ${k} of ${input.dtype}${formatShape(input.shape)}`,
          )
        }
        contribute(input, d)
      })
    }
    return wrt.map((tensor) => total(tensor) ?? fill(tensor, 0))
  })
}

/** Nodes that lie on some path from one of `sources` to `target`, in topological order. */
function nodesBetween(graph: Graph, sources: readonly Tensor[], target: Tensor): Node[] {
  const fromSources = new Set<Tensor>(sources)
  const forward = new Set<Node>()
  for (const node of graph.nodes) {
    if (node.inputs.some((t) => t && fromSources.has(t))) {
      forward.add(node)
      for (const out of node.outputs) fromSources.add(out)
    }
  }
  const toTarget = new Set<Tensor>([target])
  const relevant: Node[] = []
  for (let i = graph.nodes.length - 1; i >= 0; i--) {
    const node = graph.nodes[i]!
    if (!forward.has(node) || !node.outputs.some((t) => toTarget.has(t))) continue
    relevant.push(node)
    for (const input of node.inputs) if (input) toTarget.add(input)
  }
  return relevant.reverse()
}
