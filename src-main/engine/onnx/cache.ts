/**
 * A disk cache of compiled graphs. ONNX Runtime's graph optimisation (fusions,
 * constant folding, layout choices) can take seconds for a model's worth of
 * layers; the optimised model is saved once, keyed by a content hash of the
 * graph bytes plus everything the optimised form depends on (provider,
 * ONNX Runtime version, platform), and later sessions load it with
 * optimisation off. Files are written to a temporary name and renamed, so a
 * crash never leaves a half-written entry under a real key.
 *
 * A derived graph (the same model with quantized weights) is keyed by the
 * graph it derives from plus a tag naming the derivation (precision, block
 * size, …), and built only on a miss: the expensive derivation (quantizing
 * every weight) then runs once per model and tag, not at every load.
 */
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import * as ort from 'onnxruntime-node'
import { loadSession, type LoadedSession, type SessionOptions } from './session'

/** A graph made from another one (see the file comment). */
export interface DerivedGraph {
  /** Names the derivation; part of the cache key. Not empty. */
  tag: string
  /** The derived graph's bytes; called only on a cache miss. */
  build(): Uint8Array
}

export class CompiledGraphCache {
  constructor(
    readonly dir: string,
    private readonly log: (message: string) => void = () => {},
  ) {}

  /** `variant`: the tag of a graph derived from `model` ('' for `model` itself). */
  key(model: Uint8Array, provider: string, variant = ''): string {
    const hash = createHash('sha256')
      .update(model)
      // The optimised form may use instructions of this CPU (ORT warns so), hence its model in the key.
      .update(`\0${provider}\0${ort.env.versions.common}\0${process.platform}-${process.arch}\0${cpus()[0]?.model ?? ''}`)
    // Only derived graphs add a field, so keys of plain graphs stay what they were.
    if (variant !== '') hash.update(`\0${variant}`)
    return hash.digest('hex')
  }

  path(key: string): string {
    return join(this.dir, `${key}.onnx`)
  }

  /**
   * Loads `model` on the preferred provider: from the cache when an
   * optimised copy exists, else optimising it now and storing the result.
   * With `derived`, what is loaded is the graph `derived.build()` makes from
   * `model` (built only when the cache has no copy under `derived.tag`).
   */
  async load(model: Uint8Array, options: SessionOptions = {}, derived?: DerivedGraph): Promise<LoadedSession & { cacheHit: boolean }> {
    // The provider decides the optimised form, so resolve it first (cheap: no optimisation).
    const probe = await loadSession(model, { ...options, optimization: 'disabled' })
    await probe.session.release()
    const file = this.path(this.key(model, probe.provider, derived?.tag))
    const pinned: SessionOptions = { ...options, provider: probe.provider }

    if (existsSync(file)) {
      try {
        const loaded = await loadSession(file, { ...pinned, optimization: 'disabled' })
        return { ...loaded, fallbackReason: probe.fallbackReason, cacheHit: true }
      } catch (error) {
        this.log(`Discarding unreadable compiled graph ${file}: ${(error as Error).message.split('\n')[0]}`)
        rmSync(file, { force: true })
      }
    }
    mkdirSync(this.dir, { recursive: true })
    const temporary = `${file}.${process.pid}.tmp`
    const loaded = await loadSession(derived ? derived.build() : model, { ...pinned, optimizedModelFilePath: temporary })
    if (existsSync(temporary)) renameSync(temporary, file)
    return { ...loaded, fallbackReason: probe.fallbackReason, cacheHit: false }
  }
}
