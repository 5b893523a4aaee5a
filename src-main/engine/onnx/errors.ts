/**
 * A graph that cannot be right is refused while it is built, naming the node
 * (its op and name) and what is wrong, instead of failing later inside ONNX
 * Runtime with a message about a generated tensor name.
 */
export class GraphError extends Error {
  constructor(
    readonly op: string,
    readonly node: string,
    detail: string,
  ) {
    super(`${op} node "${node}": ${detail}`)
    this.name = 'GraphError'
  }
}
