/**
 * `quantization_config` of a Hugging Face config.json (or a GPTQ
 * quantize_config.json) for checkpoints quantized by someone else: which
 * ones this engine can repack into MatMulNBits, and a one-line error naming
 * the field for the ones it cannot.
 *
 * Supported: GPTQ 4-bit with desc_act false (any group size that is a
 * multiple of 16, or -1 for one group per row), symmetric or not, checkpoint
 * formats "gptq" (v1: zero points stored minus one) and "gptq_v2"; AWQ 4-bit
 * GEMM packing with zero points.
 */

export class PrequantizedConfigError extends Error {
  constructor(file: string, field: string, detail: string) {
    super(`${file}: quantization_config.${field}: ${detail}`)
    this.name = 'PrequantizedConfigError'
  }
}

export interface GptqConfig {
  method: 'gptq'
  bits: 4
  /** Input features per group; -1 = one group per output row (the whole K). */
  groupSize: number
  sym: boolean
  /** 'gptq' (v1) stores each zero point minus one; 'gptq_v2' stores it as is. */
  checkpointFormat: 'gptq' | 'gptq_v2'
  /** Linear modules left unquantized (their .weight is a plain float tensor). */
  modulesToNotConvert: string[]
}

export interface AwqConfig {
  method: 'awq'
  bits: 4
  groupSize: number
  modulesToNotConvert: string[]
}

export type PrequantizedConfig = GptqConfig | AwqConfig

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x)
}

function stringList(file: string, q: Record<string, unknown>, field: string): string[] {
  const value = q[field]
  if (value === undefined || value === null) return []
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw new PrequantizedConfigError(file, field, 'must be a list of module names')
  return value as string[]
}

function groupSizeOf(file: string, q: Record<string, unknown>): number {
  const g = q.group_size ?? q.q_group_size
  if (g === -1) return -1
  if (typeof g !== 'number' || !Number.isInteger(g) || g <= 0) throw new PrequantizedConfigError(file, 'group_size', `must be a positive integer or -1, got ${JSON.stringify(g)}`)
  if (g % 16 !== 0) throw new PrequantizedConfigError(file, 'group_size', `${g} is not a multiple of 16 (MatMulNBits blocks are powers of two from 16 up)`)
  return g
}

function bitsOf(file: string, q: Record<string, unknown>): 4 {
  const bits = q.bits ?? q.w_bit
  if (bits !== 4) throw new PrequantizedConfigError(file, 'bits', `only 4-bit checkpoints can be imported, got ${JSON.stringify(bits)}`)
  return 4
}

function parseGptq(file: string, q: Record<string, unknown>): GptqConfig {
  const bits = bitsOf(file, q)
  if (q.desc_act === true) throw new PrequantizedConfigError(file, 'desc_act', 'act-order (desc_act: true) checkpoints are not supported: their groups are not contiguous blocks of K')
  if (q.desc_act !== undefined && q.desc_act !== false && q.desc_act !== null) throw new PrequantizedConfigError(file, 'desc_act', `must be true or false, got ${JSON.stringify(q.desc_act)}`)
  if (q.is_marlin_format === true) throw new PrequantizedConfigError(file, 'is_marlin_format', 'Marlin-packed checkpoints are not supported (use the plain GPTQ export)')
  const sym = q.sym ?? true
  if (typeof sym !== 'boolean') throw new PrequantizedConfigError(file, 'sym', `must be true or false, got ${JSON.stringify(sym)}`)
  const formatField = q.checkpoint_format !== undefined ? 'checkpoint_format' : 'format'
  const format = q[formatField] ?? 'gptq'
  if (format !== 'gptq' && format !== 'gptq_v2') throw new PrequantizedConfigError(file, formatField, `"${String(format)}" is not supported (supported: gptq, gptq_v2)`)
  return {
    method: 'gptq',
    bits,
    groupSize: groupSizeOf(file, q),
    sym,
    checkpointFormat: format,
    modulesToNotConvert: stringList(file, q, 'modules_to_not_convert'),
  }
}

function parseAwq(file: string, q: Record<string, unknown>): AwqConfig {
  const bits = bitsOf(file, q)
  const version = q.version ?? 'gemm'
  if (typeof version !== 'string' || version.toLowerCase() !== 'gemm') {
    throw new PrequantizedConfigError(file, 'version', `"${String(version)}" packing is not supported (supported: gemm)`)
  }
  const zeroPoint = q.zero_point ?? true
  if (zeroPoint !== true) throw new PrequantizedConfigError(file, 'zero_point', 'AWQ without zero points is not supported')
  return { method: 'awq', bits, groupSize: groupSizeOf(file, q), modulesToNotConvert: stringList(file, q, 'modules_to_not_convert') }
}

/**
 * The checkpoint's quantization, from config.json's `quantization_config`
 * (pass the whole config; `file` names it in errors); undefined when the
 * model is not pre-quantized.
 */
export function parseQuantizationConfig(config: unknown, file: string): PrequantizedConfig | undefined {
  if (!isRecord(config)) return undefined
  const q = config.quantization_config
  if (q === undefined || q === null) return undefined
  if (!isRecord(q)) throw new PrequantizedConfigError(file, 'quant_method', 'quantization_config must be an object')
  return parseQuantizationSection(q, file)
}

/** The same, for the section itself (quantize_config.json holds it bare). */
export function parseQuantizationSection(q: Record<string, unknown>, file: string): PrequantizedConfig {
  // AutoGPTQ's quantize_config.json has no quant_method; it is GPTQ by construction.
  const method = q.quant_method ?? (file.endsWith('quantize_config.json') ? 'gptq' : undefined)
  if (method === 'gptq') return parseGptq(file, q)
  if (method === 'awq') return parseAwq(file, q)
  throw new PrequantizedConfigError(file, 'quant_method', `${JSON.stringify(method)} is not supported (supported: gptq, awq)`)
}
