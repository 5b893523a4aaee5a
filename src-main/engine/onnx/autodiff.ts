/**
 * Reverse-mode automatic differentiation over the graph: appends backward
 * nodes, built from ordinary ops by each op's gradient rule, and returns the
 * gradient of `loss` with respect to each of `wrt`.
 *
 * A tensor used several times (the LM head read by every exit) receives one
 * contribution per use, added to a running sum as each arrives: a single
 * Sum node at the end would keep every contribution alive until the last
 * (full fine-tuning of a tied 152k-vocabulary head: five [vocab, d]
 * gradients of 545 MB at once).
 *
 * Activation recomputation: for the nodes of a segment marked with
 * `Graph.recomputed` (a decoder layer), the gradient rules read values
 * computed again inside the backward pass instead of the forward's, so the
 * forward's intermediate tensors have no reader after the forward and ONNX
 * Runtime frees them at once. Only what the segment reads from outside (the
 * layer's input; weights are graph inputs) is kept. The recomputation
 * starts from that input passed through `availableAfter` the gradient
 * arriving at the segment, which holds it back until the segment's backward
 * begins (else it could run at the start of the backward and hold every
 * layer's activations again) and keeps ONNX Runtime's common-subexpression
 * elimination from merging it back into the forward.
 */
import { GraphError } from './errors'
import type { Graph, Node, RecomputedSegment, Tensor } from './graph'
import { sameShape, formatShape } from './shape'
import { add, fill } from './ops/basic'
import { availableAfter, availableAfterAll } from './ops/ordering'

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

  const contributions = new Map<Tensor, Tensor>()
  const contribute = (tensor: Tensor, gradient: Tensor) => {
    const sum = contributions.get(tensor)
    contributions.set(tensor, sum ? add(sum, gradient) : gradient)
  }
  const total = (tensor: Tensor): Tensor | undefined => contributions.get(tensor)
  contribute(loss, seed)
  const segmentOf = segmentIndex(graph)
  const replays = new Map<RecomputedSegment, Replay>()
  const wanted = new Set(wrt)
  // The segment whose backward is being built: its gradients to tensors outside it wait (see leave).
  let open: { segment: RecomputedSegment; parameterGradients: Tensor[]; outflows: [Tensor, Tensor][] } | undefined
  /**
   * A recomputed segment's backward is done: what it sends to the tensors
   * before it (the layer's input) is released only once its parameters'
   * gradients exist (ops/ordering.ts availableAfterAll), so that the products
   * making them run now, while the activations they read are alive, and not
   * at the end of the backward with every layer's activations kept for them.
   */
  const leave = () => {
    if (!open) return
    const { parameterGradients, outflows } = open
    open = undefined
    for (const [tensor, gradient] of outflows) contribute(tensor, availableAfterAll(gradient, parameterGradients))
  }

  return graph.scope('grad', () => {
    for (let i = relevant.length - 1; i >= 0; i--) {
      const node = relevant[i]!
      const segment = segmentOf.get(node)
      if (open && open.segment !== segment) leave()
      const dOutputs = node.outputs.map(total)
      if (dOutputs.every((d) => d === undefined)) continue
      if (!node.def.grad) throw new GraphError(node.def.type, node.name, 'is on the path to the loss but has no gradient rule')
      // The first node of a segment the backward reaches is its last: the gradient it receives is the segment's own.
      let replay = segment && replays.get(segment)
      if (segment && !replay) replays.set(segment, (replay = new Replay(graph, segment, dOutputs.find((d) => d !== undefined)!)))
      if (segment) open ??= { segment, parameterGradients: [], outflows: [] }
      const inputs = replay ? node.inputs.map((t) => t && replay.value(t)) : node.inputs
      const outputs = replay ? node.outputs.map((t) => replay.value(t)) : node.outputs
      const dInputs = graph.scope(node.name, () => node.def.grad!({ graph, node, params: node.params, inputs, outputs, dOutputs }))
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
        if (open && input.producer && !inSegment(input.producer, open.segment, graph)) open.outflows.push([input, d])
        else {
          if (open && wanted.has(input)) open.parameterGradients.push(d)
          contribute(input, d)
        }
      })
    }
    leave()
    return wrt.map((tensor) => total(tensor) ?? fill(tensor, 0))
  })
}

function inSegment(node: Node, segment: RecomputedSegment, graph: Graph): boolean {
  return node.id >= segment.start && node.id < segment.end && graph.nodes[node.id] === node
}

/** The segment each recomputed node belongs to. */
function segmentIndex(graph: Graph): Map<Node, RecomputedSegment> {
  const index = new Map<Node, RecomputedSegment>()
  for (const segment of graph.recomputedSegments) {
    for (let id = segment.start; id < segment.end; id++) index.set(graph.nodes[id]!, segment)
  }
  return index
}

/**
 * A segment's forward, built again on demand inside the backward pass: the
 * value of a tensor the segment computes is its node run again on the
 * recomputed values of its inputs (once, then shared by every rule that
 * reads it); a value from outside the segment is held back until `signal`
 * exists; a graph input or constant is itself. Nodes no rule needs are
 * built too (their outputs map whole) and dropped when the graph is
 * serialized (serialize.ts keeps only nodes that reach an output).
 */
class Replay {
  private readonly values = new Map<Tensor, Tensor>()

  constructor(
    private readonly graph: Graph,
    private readonly segment: RecomputedSegment,
    private readonly signal: Tensor,
  ) {}


  value(tensor: Tensor): Tensor {
    const known = this.values.get(tensor)
    if (known) return known
    const producer = tensor.producer
    if (!producer) return tensor
    if (!inSegment(producer, this.segment, this.graph)) {
      const held = availableAfter(tensor, this.signal)
      this.values.set(tensor, held)
      return held
    }
    const inputs = producer.inputs.map((t) => t && this.value(t))
    const outputs = this.graph.scope(`recompute/${producer.name}`, () => this.graph.apply(producer.def, inputs, producer.params))
    producer.outputs.forEach((original, k) => this.values.set(original, outputs[k]!))
    return this.values.get(tensor)!
  }
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
