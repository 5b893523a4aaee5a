/**
 * Graph → ONNX ModelProto bytes (onnx-proto's generated protobuf code).
 *
 * Opset 18 on purpose: it is the first where every Reduce* op takes its axes
 * as an input (uniform rules, no per-op attribute quirks) and Split takes
 * num_outputs; ONNX Runtime 1.30 implements all of it on CPU, CUDA and
 * DirectML. IR version 8 is the one that goes with opset 18.
 */
import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
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
  docString?: string
  /**
   * Where initializers of at least `minBytes` (default 1 KiB) go instead of
   * the model bytes: written to the file `path`, which the model names
   * relative to its own folder (ONNX's external data), so a model file over
   * protobuf's 2 GB limit is possible and no second copy of the weights is
   * made in memory.
   */
  externalData?: { path: string; minBytes?: number }
}

/** Offsets in an external data file are multiples of this (64 KiB: Windows' allocation granularity, a multiple of every page size), so ONNX Runtime can map the file. */
const EXTERNAL_DATA_ALIGNMENT = 65536

/** Writes each large initializer to `path` and answers the TensorProto fields that point at it. */
function externalDataWriter(path: string, minBytes: number): { place(data: AnyTypedArray): Partial<OnnxTypes.ITensorProto> | undefined; close(): void } {
  const fd = openSync(path, 'w')
  let end = 0
  return {
    place(data) {
      if (data.byteLength < minBytes) return undefined
      const offset = Math.ceil(end / EXTERNAL_DATA_ALIGNMENT) * EXTERNAL_DATA_ALIGNMENT
      const bytes = rawBytes(data)
      for (let written = 0; written < bytes.length; ) written += writeSync(fd, bytes, written, bytes.length - written, offset + written)
      end = offset + bytes.length
      return {
        dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
        externalData: [
          { key: 'location', value: basename(path) },
          { key: 'offset', value: String(offset) },
          { key: 'length', value: String(bytes.length) },
        ],
      }
    },
    close: () => closeSync(fd),
  }
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
  const external = options.externalData ? externalDataWriter(options.externalData.path, options.externalData.minBytes ?? 1024) : undefined
  try {
    return encodeModel(graph, options, (data) => external?.place(data))
  } finally {
    external?.close()
  }
}

/**
 * Writes `graph` as the model file `modelPath` with its large initializers in
 * `dataFile` beside it (see SerializeOptions.externalData).
 */
export function writeModelFile(graph: Graph, modelPath: string, dataFile: string): void {
  writeFileSync(modelPath, toModelProto(graph, { externalData: { path: join(dirname(modelPath), dataFile) } }))
}

function encodeModel(graph: Graph, options: SerializeOptions, placeExternally: (data: AnyTypedArray) => Partial<OnnxTypes.ITensorProto> | undefined): Uint8Array {
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
      initializer: graph.initializers
        .filter(({ tensor }) => used.has(tensor))
        .map(({ tensor, data }) => ({
          name: tensor.name,
          dataType: onnxDataType[tensor.dtype],
          dims: tensor.shape as number[],
          ...(placeExternally(data) ?? { rawData: rawBytes(data) }),
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
