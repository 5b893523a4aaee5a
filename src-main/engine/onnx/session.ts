/**
 * Loading compiled graphs into ONNX Runtime: execution-provider choice with a
 * logged fallback to CPU that names the cause, and thread settings.
 */
import * as ort from 'onnxruntime-node'
import type { AnyTypedArray, DType } from './dtype'
import { cudaProviderInstalled, type ExecutionProviderPreference, type ProviderId } from './providers'

export type { ProviderId }

export interface SessionOptions {
  provider?: ExecutionProviderPreference
  /** Threads inside one op (0 = ONNX Runtime's default: one per core). */
  intraOpThreads?: number
  interOpThreads?: number
  /** Told when a requested provider cannot be used. */
  log?: (message: string) => void
  /** ONNX Runtime graph optimisation; 'disabled' for graphs optimised already (generate/model-graph-cache.ts). */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all'
  /** Where ONNX Runtime saves the optimised model. */
  optimizedModelFilePath?: string
  /**
   * With optimizedModelFilePath: the file, beside the model, that takes its
   * initializers (over 1 KiB), so a model over protobuf's 2 GB limit can be
   * saved and a later load reads the weights straight from it.
   */
  optimizedModelExternalData?: string
  /**
   * Keep ONNX Runtime's CPU memory arena (default true). A process running
   * several large graphs in turn (training: a step graph per sub-model, an
   * evaluation graph) turns it off, or every session keeps its own peak.
   */
  memoryArena?: boolean
}

export interface LoadedSession {
  readonly session: ort.InferenceSession
  readonly provider: ProviderId
  /** Why the requested provider was not used; undefined when it was. */
  readonly fallbackReason: string | undefined
}

/** Providers `auto` tries, best first, on this platform (CUDA only once its libraries are installed). */
export function autoProviderOrder(platform = process.platform, cudaInstalled = cudaProviderInstalled()): ProviderId[] {
  if (platform === 'win32') return ['dml', 'cpu']
  return platform === 'linux' && cudaInstalled ? ['cuda', 'cpu'] : ['cpu']
}

const ortProviderName: Record<ProviderId, string> = { cpu: 'cpu', cuda: 'cuda', dml: 'dml', webgpu: 'webgpu' }

/** Loads a model (bytes or a file path) on the preferred provider, falling back to CPU. */
export async function loadSession(model: Uint8Array | string, options: SessionOptions = {}): Promise<LoadedSession> {
  const preference = options.provider ?? 'cpu'
  const candidates = preference === 'auto' ? autoProviderOrder() : preference === 'cpu' ? ['cpu' as const] : [preference, 'cpu' as const]
  const base: ort.InferenceSession.SessionOptions = {
    graphOptimizationLevel: options.optimization ?? 'all',
    // Warnings (e.g. "optimised model is hardware specific", which generate/model-graph-cache.ts accounts for) are noise to users.
    logSeverityLevel: 3,
    // Every session has its own intra-op thread pool. Spinning workers of one
    // session's pool steal the cores the next session (the next layer) needs,
    // and a model runs many sessions back to back.
    extra: {
      session: {
        intra_op: { allow_spinning: '0' },
        inter_op: { allow_spinning: '0' },
        ...(options.optimizedModelExternalData
          ? { optimized_model_external_initializers_file_name: options.optimizedModelExternalData, optimized_model_external_initializers_min_size_in_bytes: '1024' }
          : {}),
      },
    },
    ...(options.optimizedModelFilePath ? { optimizedModelFilePath: options.optimizedModelFilePath } : {}),
    ...(options.memoryArena === false ? { enableCpuMemArena: false } : {}),
    ...(options.intraOpThreads ? { intraOpNumThreads: options.intraOpThreads } : {}),
    ...(options.interOpThreads ? { interOpNumThreads: options.interOpThreads } : {}),
  }
  const failures: string[] = []
  for (const provider of candidates) {
    // Without its libraries ONNX Runtime can only fail (and print the failure to stderr).
    if (provider === 'cuda' && !cudaProviderInstalled()) {
      failures.push('cuda is unavailable (its libraries are not installed: run `npm run setup:gpu`)')
      continue
    }
    try {
      const sessionOptions = { ...base, executionProviders: [ortProviderName[provider]] }
      const session = typeof model === 'string' ? await ort.InferenceSession.create(model, sessionOptions) : await ort.InferenceSession.create(model, sessionOptions)
      const fallbackReason = failures.length ? failures.join('; ') : undefined
      if (fallbackReason) options.log?.(`Execution provider ${preference} → ${provider}: ${fallbackReason}`)
      return { session, provider, fallbackReason }
    } catch (error) {
      if (provider === 'cpu') throw error
      failures.push(`${provider} is unavailable (${firstLine(error)})`)
    }
  }
  throw new Error(`no execution provider could load the model: ${failures.join('; ')}`)
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!.slice(0, 300)
}

const ortType: Record<DType, ort.Tensor.Type> = {
  float32: 'float32',
  float64: 'float64',
  float16: 'float16',
  int64: 'int64',
  int32: 'int32',
  bool: 'bool',
  uint8: 'uint8',
}

export function tensor(dtype: DType, data: AnyTypedArray, dims: readonly number[]): ort.Tensor {
  return new ort.Tensor(ortType[dtype], data as never, dims)
}

export { ort }
