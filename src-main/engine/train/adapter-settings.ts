/**
 * A tuning request's adapter settings (`adapter`, `loraRank`, `loraAlpha`,
 * `loraDropout`, `loraTargets`, `trainNorm`, `blockSize`), checked and
 * resolved to the adapter the trainer trains, with defaults filled in.
 * Errors name the setting through the caller's SettingNamer (`--lora-rank`
 * on the CLI). `qlora` is a LoRA adapter on a 4-bit base (blockwise
 * symmetric, `blockSize` values a block, default 32).
 */
import { LORA_TARGETS, loraDefaults, type AdapterKind, type LoraTarget } from '../model/lora'
import { TuneSetupError, type SettingNamer } from './errors'
import type { QuantizedBase, TrainedAdapter } from './sorted-graph'

/** What a request may ask for: an adapter file's kind, or LoRA on a 4-bit base. */
export type AdapterMethod = AdapterKind | 'qlora'

/** Block sizes a QLoRA base may be quantized with (those `--weights int4` offers). */
export const QLORA_BLOCK_SIZES = [32, 64, 128] as const

export interface AdapterRequest {
  adapter?: AdapterMethod | undefined
  /** QLoRA only: values per quantization block of the 4-bit base (default 32). */
  blockSize?: number | undefined
  loraRank?: number | undefined
  loraAlpha?: number | undefined
  loraDropout?: number | undefined
  loraTargets?: string | undefined
  trainNorm?: boolean | undefined
}

const ADAPTER_SETTINGS = ['loraRank', 'loraAlpha', 'loraDropout', 'loraTargets', 'trainNorm'] as const

/** `q,k,v` → ['q', 'k', 'v'], in the layer's order, each once. */
export function parseTargets(text: string): LoraTarget[] {
  const names = text.split(',').map((t) => t.trim()).filter((t) => t.length > 0)
  if (names.length === 0) throw new Error(`give one or more of ${LORA_TARGETS.join(',')}`)
  for (const name of names) if (!(LORA_TARGETS as readonly string[]).includes(name)) throw new Error(`"${name}" is not one of ${LORA_TARGETS.join(',')}`)
  return LORA_TARGETS.filter((t) => names.includes(t))
}

/** The adapter a request trains, or undefined for full fine-tuning. */
export function resolveAdapter(request: AdapterRequest, name: SettingNamer): TrainedAdapter | undefined {
  if (request.adapter !== 'qlora' && request.blockSize !== undefined) {
    throw new TuneSetupError(`${name('blockSize')} only applies to a QLoRA run (the 4-bit base's block): add ${name('adapter')} qlora.`, ['blockSize', 'adapter'])
  }
  if (!request.adapter) {
    const stray = ADAPTER_SETTINGS.find((s) => request[s] !== undefined && request[s] !== false)
    if (stray) throw new TuneSetupError(`${name(stray)} only applies to an adapter run: add ${name('adapter')} lora or dylora.`, [stray, 'adapter'])
    return undefined
  }
  const rank = request.loraRank ?? loraDefaults.rank
  if (!Number.isInteger(rank) || rank < 1) throw new TuneSetupError(`${name('loraRank')} must be a positive whole number (got ${rank}).`, ['loraRank'])
  const alpha = request.loraAlpha ?? loraDefaults.alpha
  if (!(alpha > 0)) throw new TuneSetupError(`${name('loraAlpha')} must be a number > 0 (got ${alpha}).`, ['loraAlpha'])
  const dropout = request.loraDropout ?? loraDefaults.dropout
  if (dropout !== 0) {
    throw new TuneSetupError(`${name('loraDropout')} ${dropout}: only 0 is supported (adapter dropout is not implemented; the training graphs are deterministic).`, ['loraDropout'])
  }
  let targets: LoraTarget[]
  try {
    targets = parseTargets(request.loraTargets ?? loraDefaults.targets)
  } catch (error) {
    throw new TuneSetupError(`${name('loraTargets')}: ${(error as Error).message}.`, ['loraTargets'])
  }
  const trainNorm = request.trainNorm ?? false
  if (request.adapter !== 'qlora') return { kind: request.adapter, rank, alpha, targets, trainNorm }
  return { kind: 'lora', rank, alpha, targets, trainNorm, quantizedBase: qloraBase(request.blockSize, name) }
}

function qloraBase(blockSize: number | undefined, name: SettingNamer): QuantizedBase {
  const size = blockSize ?? QLORA_BLOCK_SIZES[0]
  if (!(QLORA_BLOCK_SIZES as readonly number[]).includes(size)) {
    throw new TuneSetupError(`${name('blockSize')} must be ${QLORA_BLOCK_SIZES.join(', ')} (got ${size}).`, ['blockSize'])
  }
  return { bits: 4, blockSize: size as QuantizedBase['blockSize'] }
}
