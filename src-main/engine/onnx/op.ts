/**
 * An op, micrograd-style: its shape rule, its ONNX emission and its gradient
 * rule in one place. The gradient rule builds backward nodes from ops too.
 */
import type { Attr, Graph, Node, Tensor, TensorInfo } from './graph'

export interface GradContext<P> {
  readonly graph: Graph
  readonly node: Node<P>
  readonly params: P
  readonly inputs: readonly (Tensor | undefined)[]
  readonly outputs: readonly Tensor[]
  /** Gradient of the loss with respect to each output; undefined where no path reaches the loss. */
  readonly dOutputs: readonly (Tensor | undefined)[]
}

export interface OpDef<P> {
  /** ONNX op type, e.g. 'MatMul'. */
  readonly type: string
  /** '' (default ONNX) or 'com.microsoft' (contrib ops, behind a capability check). */
  readonly domain?: string
  /**
   * Output dtypes and shapes from the inputs' (undefined = omitted optional
   * input). Throws an Error whose message says what is wrong; the graph adds
   * the node's name.
   */
  infer(inputs: readonly (TensorInfo | undefined)[], params: P): TensorInfo[]
  /**
   * Trailing inputs that exist only for autodiff (a custom gradient reads
   * them) and are not emitted as ONNX inputs of the node.
   */
  readonly gradientOnlyInputs?: number
  /** ONNX attributes for these params. */
  attrs?(params: P): Record<string, Attr>
  /**
   * Gradients of the loss with respect to each input, given those of the
   * outputs; undefined for inputs that are not differentiable (indices,
   * shapes, masks). Absent: the op is not differentiable at all.
   */
  grad?(context: GradContext<P>): (Tensor | undefined)[]
}
