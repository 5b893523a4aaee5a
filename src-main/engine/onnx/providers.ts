/**
 * Which ONNX Runtime execution providers this installation can offer. This is
 * what the npm package ships and what the opt-in GPU download added; whether
 * a device is present is only known when a session is created on it.
 */
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import * as ort from 'onnxruntime-node'

/**
 * The execution providers the engine can run on, and 'auto' (the engine
 * picks: a GPU provider where one loads, else CPU). The engine owns these
 * types; the API contract's schemas are checked against them
 * (services/engine-types.ts).
 */
export type ExecutionProviderPreference = 'auto' | ProviderId
export type ProviderId = 'cpu' | 'cuda' | 'dml' | 'webgpu'

export interface ProviderStatus {
  id: ProviderId
  label: string
  /** True when this build of ONNX Runtime can use the provider on this machine. */
  available: boolean
  /** Why it is unavailable, or how to enable it; empty when available. */
  note: string
}

const labels: Record<ProviderId, string> = {
  cpu: 'CPU',
  cuda: 'CUDA (NVIDIA)',
  dml: 'DirectML (Windows)',
  webgpu: 'WebGPU',
}

/** Folder of the native binaries for this platform inside onnxruntime-node. */
function ortBinaryFolder(): string {
  const packageJson = createRequire(import.meta.url).resolve('onnxruntime-node/package.json')
  return join(dirname(packageJson), 'bin', 'napi-v6', process.platform, process.arch)
}

/** The CUDA provider library is downloaded by `npm run setup:gpu`, not shipped. */
export function cudaProviderInstalled(folder = ortBinaryFolder()): boolean {
  const file = process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so'
  return existsSync(join(folder, file))
}

export function listProviders(): ProviderStatus[] {
  const backends = new Set(ort.listSupportedBackends().map((b) => b.name))
  const status = (id: ProviderId, available: boolean, note: string): ProviderStatus => ({
    id,
    label: labels[id],
    available,
    note: available ? '' : note,
  })
  const cudaPlatform = process.platform === 'linux' && process.arch === 'x64'
  return [
    status('cpu', true, ''),
    status(
      'cuda',
      cudaPlatform && backends.has('cuda') && cudaProviderInstalled(),
      cudaPlatform
        ? 'CUDA libraries are not installed: run `npm run setup:gpu` (needs an NVIDIA GPU with CUDA 12 drivers).'
        : 'ONNX Runtime for Node ships CUDA only for Linux x64.',
    ),
    status('dml', backends.has('dml'), 'DirectML is available on Windows only.'),
    status('webgpu', backends.has('webgpu'), 'This ONNX Runtime build has no WebGPU provider for this platform.'),
  ]
}
