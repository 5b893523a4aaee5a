/**
 * onnx-proto is CommonJS without statically detectable named exports, so
 * Node's ESM loader (the built app, tsx) cannot `import { onnx }` from it;
 * the default import works everywhere (Node, Vite, Vitest). Types come from
 * the package directly: `import type { onnx as OnnxTypes } from 'onnx-proto'`.
 */
import onnxProto from 'onnx-proto'

export const onnx = onnxProto.onnx
