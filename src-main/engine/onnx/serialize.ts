/**
 * Graph → ONNX ModelProto bytes (onnx-proto's generated protobuf code).
 *
 * Opset 18 on purpose: it is the first where every Reduce* op takes its axes
 * as an input (uniform rules, no per-op attribute quirks) and Split takes
 * num_outputs; ONNX Runtime 1.30 implements all of it on CPU, CUDA and
 * DirectML. IR version 8 is the one that goes with opset 18.
 */
import type { onnx as OnnxTypes } from 'onnx-proto'
import { onnx } from './proto'
import { onnxDataType, type AnyTypedArray } from './dtype'
import type { Attr, Graph, Node, Tensor } from './graph'

export const opsetVersion = 18
export const irVersion = 8
/** com.microsoft contrib ops, used only behind a capability check. */
export const microsoftOpsetVersion = 1

function valueInfo(tensor: Tensor): OnnxTypes.IValueInfoProto {
  return {
    name: tensor.name,
    type: {
      tensorType: {
        elemType: onnxDataType[tensor.dtype],
        shape: { dim: tensor.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  }
}

function attribute(name: string, attr: Attr): OnnxTypes.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType
  if ('int' in attr) return { name, type: T.INT, i: attr.int }
  if ('float' in attr) return { name, type: T.FLOAT, f: attr.float }
  if ('string' in attr) return { name, type: T.STRING, s: new TextEncoder().encode(attr.string) }
  if ('ints' in attr) return { name, type: T.INTS, ints: [...attr.ints] }
  return { name, type: T.FLOATS, floats: [...attr.floats] }
}

function rawBytes(data: AnyTypedArray): Uint8Array {
  // ONNX raw_data is little-endian, as are the platforms ONNX Runtime ships for.
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
}

export interface SerializeOptions {
  /** Tensors to expose as outputs in addition to `graph.outputs`. */
  docString?: string
}

/**
 * The nodes some output depends on, in order. Gradient rules build every
 * input's gradient eagerly (a linear layer's dX next to its dW); where nothing
 * reads one — the gradient of a batch input, say — it is dropped here rather
 * than computed at every step.
 */
export function liveNodes(graph: Graph): Node[] {
  const needed = new Set<Tensor>(graph.outputs)
  const live: Node[] = []
  for (let i = graph.nodes.length - 1; i >= 0; i--) {
    const node = graph.nodes[i]!
    if (!node.outputs.some((t) => needed.has(t))) continue
    live.push(node)
    for (const input of node.inputs) if (input) needed.add(input)
  }
  return live.reverse()
}

export function toModelProto(graph: Graph, options: SerializeOptions = {}): Uint8Array {
  if (graph.outputs.length === 0) throw new Error(`graph ${graph.name} has no outputs`)
  const nodes = liveNodes(graph)
  const used = new Set<Tensor>(graph.outputs)
  for (const node of nodes) for (const input of node.inputs) if (input) used.add(input)
  const domains = new Set(nodes.map((n) => n.def.domain ?? ''))
  const model: OnnxTypes.IModelProto = {
    irVersion,
    producerName: 'sorted-studio',
    docString: options.docString ?? '',
    opsetImport: [
      { domain: '', version: opsetVersion },
      ...(domains.has('com.microsoft') ? [{ domain: 'com.microsoft', version: microsoftOpsetVersion }] : []),
    ],
    graph: {
      name: graph.name,
      input: graph.inputs.map(valueInfo),
      output: graph.outputs.map(valueInfo),
      initializer: graph.initializers.filter(({ tensor }) => used.has(tensor)).map(({ tensor, data }) => ({
        name: tensor.name,
        dataType: onnxDataType[tensor.dtype],
        dims: tensor.shape as number[],
        rawData: rawBytes(data),
      })),
      node: nodes.map((node) => ({
        name: node.name,
        opType: node.def.type,
        domain: node.def.domain ?? '',
        input: node.inputs.slice(0, node.inputs.length - (node.def.gradientOnlyInputs ?? 0)).map((t) => t?.name ?? ''),
        output: node.outputs.map((t) => t.name),
        attribute: Object.entries(node.def.attrs?.(node.params) ?? {}).map(([name, attr]) => attribute(name, attr)),
      })),
    },
  }
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish()
}
