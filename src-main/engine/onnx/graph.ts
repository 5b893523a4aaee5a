/**
 * The graph builder: tensors are typed, shaped handles; every op is applied
 * through `Graph.apply`, which runs the op's shape/dtype rule at once so a
 * mistake fails here, naming the node. Nodes are kept in creation order,
 * which is a topological order (a node can only consume existing tensors).
 */
import type { AnyTypedArray, DType } from './dtype'
import { GraphError } from './errors'
import type { OpDef } from './op'
import { standardOps } from './standard-ops'
import { formatShape, type Dim, type Shape } from './shape'

export type Attr =
  | { int: number }
  | { float: number }
  | { string: string }
  | { ints: readonly number[] }
  | { floats: readonly number[] }

export interface TensorInfo {
  readonly dtype: DType
  readonly shape: Shape
}

export class Tensor implements TensorInfo {
  constructor(
    readonly graph: Graph,
    readonly name: string,
    readonly dtype: DType,
    readonly shape: Shape,
    /** The node that computes it; undefined for graph inputs and constants. */
    readonly producer: Node | undefined,
  ) {}

  get rank(): number {
    return this.shape.length
  }

  toString(): string {
    return `${this.name}: ${this.dtype}${formatShape(this.shape)}`
  }
}

export interface Node<P = unknown> {
  readonly id: number
  readonly name: string
  readonly def: OpDef<P>
  readonly params: P
  /** `undefined` stands for an omitted optional input. */
  readonly inputs: readonly (Tensor | undefined)[]
  readonly outputs: readonly Tensor[]
}

export interface Initializer {
  readonly tensor: Tensor
  readonly data: AnyTypedArray
}

/**
 * Nodes [start, end) built by one `Graph.recomputed` body: the backward pass
 * does not keep their outputs from the forward but computes them again
 * (autodiff.ts), from the segment's inputs.
 */
export interface RecomputedSegment {
  readonly name: string
  readonly start: number
  readonly end: number
}

export class Graph {
  readonly inputs: Tensor[] = []
  readonly recomputedSegments: RecomputedSegment[] = []
  readonly initializers: Initializer[] = []
  readonly nodes: Node[] = []
  readonly outputs: Tensor[] = []
  private readonly names = new Set<string>()
  private readonly constantCache = new Map<string, Tensor>()
  private readonly scopes: string[] = []
  private counter = 0

  /**
   * @param contribOps com.microsoft ops this graph may use. Each must have
   *   passed `contribOpSupported` on the session's provider (contrib.ts):
   *   contrib ops are optional extras, never assumed.
   */
  constructor(
    readonly name = 'sorted',
    readonly contribOps: ReadonlySet<string> = new Set(),
  ) {}

  /** Builds `body` with node names prefixed by `scope/` (e.g. `layer3/attn/MatMul_12`). */
  scope<T>(scope: string, body: () => T): T {
    this.scopes.push(scope)
    try {
      return body()
    } finally {
      this.scopes.pop()
    }
  }

  /**
   * Builds `body` as `scope` does, and marks its nodes as one segment the
   * backward pass recomputes instead of keeping (activation checkpointing):
   * of everything the body computes, only what it reads from outside it
   * stays alive until its backward.
   */
  recomputed<T>(scope: string, body: () => T): T {
    const start = this.nodes.length
    const result = this.scope(scope, body)
    this.recomputedSegments.push({ name: [...this.scopes, scope].join('/'), start, end: this.nodes.length })
    return result
  }

  private uniqueName(base: string): string {
    const scoped = [...this.scopes, base].join('/')
    let name = scoped
    while (this.names.has(name)) name = `${scoped}_${++this.counter}`
    this.names.add(name)
    return name
  }

  input(name: string, dtype: DType, shape: Shape): Tensor {
    if (this.names.has(name)) throw new GraphError('Input', name, 'a tensor with this name already exists')
    this.names.add(name)
    const tensor = new Tensor(this, name, dtype, shape, undefined)
    this.inputs.push(tensor)
    return tensor
  }

  /**
   * A constant stored in the model. Identical small constants (axes, shapes,
   * scalars) are shared, which keeps generated graphs compact.
   */
  constant(data: AnyTypedArray, dtype: DType, shape: readonly number[], name?: string): Tensor {
    const size = shape.reduce((a, b) => a * b, 1)
    if (data.length !== size) throw new GraphError('Constant', name ?? '(constant)', `${data.length} values for shape ${formatShape(shape)}`)
    const key = size <= 16 && !name ? `${dtype}|${shape.join(',')}|${Array.from(data as ArrayLike<number | bigint>).join(',')}` : undefined
    const cached = key ? this.constantCache.get(key) : undefined
    if (cached) return cached
    const tensor = new Tensor(this, this.uniqueName(name ?? 'const'), dtype, shape, undefined)
    this.initializers.push({ tensor, data })
    if (key) this.constantCache.set(key, tensor)
    return tensor
  }

  scalar(value: number, dtype: DType): Tensor {
    return this.constant(typedArrayOf(dtype, [value]), dtype, [])
  }

  int64s(values: readonly number[]): Tensor {
    return this.constant(BigInt64Array.from(values.map(BigInt)), 'int64', [values.length])
  }

  /** Applies an op: checks inputs, infers outputs (or throws naming the node), records the node. */
  apply<P>(def: OpDef<P>, inputs: readonly (Tensor | undefined)[], params: P, name?: string): Tensor[] {
    const nodeName = this.uniqueName(name ?? def.type)
    const domain = def.domain ?? ''
    if (domain === '' && !standardOps.has(def.type)) throw new GraphError(def.type, nodeName, `is not an ONNX operator (opset 18)`)
    if (domain === 'com.microsoft' && !this.contribOps.has(def.type)) {
      throw new GraphError(def.type, nodeName, 'is a com.microsoft contrib op this graph was not cleared to use (probe it with contribOpSupported first)')
    }
    if (domain !== '' && domain !== 'com.microsoft') throw new GraphError(def.type, nodeName, `unknown op domain "${domain}"`)
    for (const input of inputs) {
      if (input && input.graph !== this) throw new GraphError(def.type, nodeName, `input ${input.name} belongs to another graph`)
    }
    let infos: TensorInfo[]
    try {
      infos = def.infer(inputs.map((t) => (t ? { dtype: t.dtype, shape: t.shape } : undefined)), params)
    } catch (error) {
      if (error instanceof GraphError) throw error
      const given = inputs.map((t) => (t ? `${t.dtype}${formatShape(t.shape)}` : '-')).join(', ')
      throw new GraphError(def.type, nodeName, `${(error as Error).message} (inputs: ${given})`)
    }
    const outputs: Tensor[] = []
    const node: Node<P> = { id: this.nodes.length, name: nodeName, def, params, inputs, outputs }
    infos.forEach((info, i) => outputs.push(new Tensor(this, infos.length === 1 ? nodeName : `${nodeName}:${i}`, info.dtype, info.shape, node as Node)))
    this.nodes.push(node as Node)
    return outputs
  }

  /** Marks a tensor as a graph output under `name` (an Identity node renames it). */
  output(tensor: Tensor, name: string): Tensor {
    if (this.names.has(name) && tensor.name !== name) throw new GraphError('Output', name, 'a tensor with this name already exists')
    let out = tensor
    if (tensor.name !== name || this.outputs.includes(tensor)) {
      this.names.add(name)
      out = new Tensor(this, name, tensor.dtype, tensor.shape, undefined)
      const node: Node = { id: this.nodes.length, name: `${name}/Identity`, def: identityDef as OpDef<unknown>, params: undefined, inputs: [tensor], outputs: [out] }
      ;(out as { producer: Node | undefined }).producer = node
      this.nodes.push(node)
    }
    this.outputs.push(out)
    return out
  }

  /** The symbolic dims used by inputs, for reporting and for session feeds. */
  symbolicDims(): Set<string> {
    const dims = new Set<string>()
    for (const t of this.inputs) for (const d of t.shape) if (typeof d === 'string') dims.add(d)
    return dims
  }
}

/** Identity is needed by `Graph.output`; its full definition (with gradient) lives in ops. */
const identityDef: OpDef<undefined> = {
  type: 'Identity',
  infer: ([x]) => [x!],
  grad: ({ dOutputs }) => [dOutputs[0]],
}

export function typedArrayOf(dtype: DType, values: readonly number[]): AnyTypedArray {
  switch (dtype) {
    case 'float32':
      return Float32Array.from(values)
    case 'float64':
      return Float64Array.from(values)
    case 'int64':
      return BigInt64Array.from(values.map((v) => BigInt(Math.trunc(v))))
    case 'int32':
      return Int32Array.from(values)
    case 'bool':
      return Uint8Array.from(values.map((v) => (v ? 1 : 0)))
    case 'uint8':
      return Uint8Array.from(values)
    case 'float16':
      return Uint16Array.from(values.map(float16Bits))
  }
}

/** IEEE half-precision bits of a number (round to nearest even). */
export function float16Bits(value: number): number {
  const f32 = new Float32Array([value])
  const bits = new Uint32Array(f32.buffer)[0]!
  const sign = (bits >>> 16) & 0x8000
  const exp = (bits >>> 23) & 0xff
  let mant = bits & 0x7fffff
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0)
  const e = exp - 127 + 15
  if (e >= 0x1f) return sign | 0x7c00
  if (e <= 0) {
    if (e < -10) return sign
    mant |= 0x800000
    const shift = 14 - e
    const half = 1 << (shift - 1)
    let result = mant >> shift
    if ((mant & ((1 << shift) - 1)) > half || ((mant & ((1 << shift) - 1)) === half && result & 1)) result++
    return sign | result
  }
  let result = (e << 10) | (mant >> 13)
  const rest = mant & 0x1fff
  if (rest > 0x1000 || (rest === 0x1000 && result & 1)) result++
  return sign | result
}

export type { Dim, Shape }
