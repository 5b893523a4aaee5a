/**
 * Shapes with static (number) and symbolic (string, e.g. 'batch') dims.
 *
 * Rule: a symbolic dim never broadcasts. Only a literal 1 broadcasts, so the
 * gradient of a broadcast op knows statically which axes to sum over.
 */
export type Dim = number | string
export type Shape = readonly Dim[]

export function formatShape(shape: Shape): string {
  return `[${shape.join(', ')}]`
}

export function sameDim(a: Dim, b: Dim): boolean {
  return a === b
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => sameDim(d, b[i]!))
}

/** NumPy-style broadcasting; returns undefined when the shapes cannot broadcast. */
export function broadcastShapes(...shapes: Shape[]): Dim[] | undefined {
  const rank = Math.max(...shapes.map((s) => s.length))
  const result: Dim[] = []
  for (let axis = 0; axis < rank; axis++) {
    let dim: Dim = 1
    for (const shape of shapes) {
      const d = shape[axis - (rank - shape.length)] ?? 1
      if (d === 1) continue
      if (dim === 1) dim = d
      else if (!sameDim(dim, d)) return undefined
    }
    result.push(dim)
  }
  return result
}

/** Number of elements, or undefined if any dim is symbolic. */
export function staticSize(shape: Shape): number | undefined {
  let size = 1
  for (const d of shape) {
    if (typeof d !== 'number') return undefined
    size *= d
  }
  return size
}

/** Normalises a possibly negative axis; undefined if out of range. */
export function normalizeAxis(axis: number, rank: number): number | undefined {
  const a = axis < 0 ? axis + rank : axis
  return Number.isInteger(a) && a >= 0 && a < rank ? a : undefined
}
